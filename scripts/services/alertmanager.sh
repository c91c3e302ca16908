#!/usr/bin/env bash
# Prometheus Alertmanager for Vigil's alerting tests. Source this file, then:
#
#   alertmanager_start DIR   # starts Debian's prometheus-alertmanager on a free loopback port, with
#                            # clustering off and its data in DIR, waits until /-/ready answers,
#                            # and exports ALERTMANAGER_URL and ALERTMANAGER_PID
#   alertmanager_stop        # stops it
SERVICE_PACKAGES+=(prometheus-alertmanager curl)

alertmanager_start() {
    local dir=${1:?usage: alertmanager_start DIR} i
    mkdir -p "$dir/data"
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    # One receiver that sends nowhere: the tests read the alerts back through the API.
    cat >"$dir/alertmanager.yml" <<'YAML'
route:
  receiver: blackhole
  group_wait: 1s
receivers:
  - name: blackhole
YAML
    "${ALERTMANAGER_BIN:-/usr/bin/prometheus-alertmanager}" --config.file="$dir/alertmanager.yml" \
        --storage.path="$dir/data" --web.listen-address="127.0.0.1:$port" --cluster.listen-address= \
        >"$dir/alertmanager.log" 2>&1 &
    ALERTMANAGER_PID=$!
    for i in $(seq 1 200); do
        if curl -fsS "http://127.0.0.1:$port/-/ready" >/dev/null 2>&1; then
            export ALERTMANAGER_URL="http://127.0.0.1:$port" ALERTMANAGER_PID
            return 0
        fi
        sleep 0.05
    done
    echo "alertmanager.sh: Alertmanager did not start; log:" >&2
    cat "$dir/alertmanager.log" >&2
    return 1
}

alertmanager_stop() {
    if [ -n "${ALERTMANAGER_PID:-}" ]; then
        kill "$ALERTMANAGER_PID" 2>/dev/null
        wait "$ALERTMANAGER_PID" 2>/dev/null
        unset ALERTMANAGER_PID
    fi
}
