#!/usr/bin/env bash
# Headless Chromium for the dashboard's browser test (Tests/browser/). Source this file, then:
#
#   browser_start DIR   # makes sure Selenium (PyPI) is importable and exports CHROMIUM,
#                       # CHROMEDRIVER and SE_OFFLINE=true (Selenium must never download a
#                       # browser or a driver: Debian's chromium and chromium-driver are used)
#   browser_stop        # nothing to stop: the test starts and quits its own browser
#
# libjs-chart.js provides Chart.js for the dashboard's charts; mosquitto-clients the test's publisher.

SERVICE_PACKAGES+=(chromium chromium-driver libjs-chart.js mosquitto-clients)

browser_start() {
    local dir=$1
    if ! python3 -c 'import selenium' 2>/dev/null; then
        python3 -m pip install --quiet --disable-pip-version-check selenium >"$dir/pip.log" 2>&1 || {
            echo "browser.sh: pip install selenium failed; see $dir/pip.log" >&2
            return 1
        }
    fi
    export CHROMIUM="${CHROMIUM:-$(command -v chromium || echo /usr/bin/chromium)}"
    export CHROMEDRIVER="${CHROMEDRIVER:-$(command -v chromedriver || echo /usr/bin/chromedriver)}"
    export SE_OFFLINE=true
}

browser_stop() {
    :
}
