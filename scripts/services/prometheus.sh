#!/usr/bin/env bash
# Prometheus tools for Vigil's tests. Source this file, then:
#
#   prometheus_start DIR   # nothing to start: exports PROMTOOL (the promtool binary) for the
#                          # exposition lint test (StreamsPromtoolTests)
#   prometheus_stop        # nothing to stop
#
# Only Debian's promtool is needed; no Prometheus server runs.
SERVICE_PACKAGES+=(prometheus)

prometheus_start() {
    PROMTOOL="${PROMTOOL:-$(command -v promtool || echo /usr/bin/promtool)}"
    export PROMTOOL
}

prometheus_stop() {
    :
}
