#!/usr/bin/env bash
# Mosquitto for Vigil's integration tests and benchmarks. Source this file, then:
#
#   mosquitto_start DIR   # writes certificates and config into DIR, starts a broker with a plain
#                         # and a TLS listener on free loopback ports, waits until both accept, and
#                         # exports MOSQUITTO_HOST, MOSQUITTO_PORT, MOSQUITTO_TLS_PORT,
#                         # MOSQUITTO_CA_FILE, MOSQUITTO_BIN and MOSQUITTO_PID
#   mosquitto_stop        # stops that broker
#
# The TLS listener's certificate is signed by a CA generated here (CN "Vigil Test CA"); the server
# certificate has CN 127.0.0.1 and SANs IP:127.0.0.1 and DNS:localhost.

SERVICE_PACKAGES+=(mosquitto openssl)
MOSQUITTO_BIN="${MOSQUITTO_BIN:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}"

_mosquitto_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

_mosquitto_wait_port() {
    local port=$1 i
    for i in $(seq 1 100); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}

# Writes ca.pem, server.pem and server.key into DIR (skipped when they exist).
mosquitto_make_certs() {
    local dir=$1
    [ -f "$dir/server.pem" ] && return 0
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Vigil Test CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.pem" >/dev/null 2>&1 || return 1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=127.0.0.1" \
        -keyout "$dir/server.key" -out "$dir/server.csr" >/dev/null 2>&1 || return 1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n' >"$dir/server.ext"
    openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 3650 -extfile "$dir/server.ext" -out "$dir/server.pem" >/dev/null 2>&1 || return 1
    chmod 644 "$dir"/*.pem "$dir"/*.key
}

mosquitto_start() {
    local dir=${1:?usage: mosquitto_start DIR}
    mkdir -p "$dir" && chmod 755 "$dir"
    mosquitto_make_certs "$dir" || { echo "mosquitto.sh: certificate generation failed" >&2; return 1; }
    MOSQUITTO_PORT=$(_mosquitto_free_port)
    MOSQUITTO_TLS_PORT=$(_mosquitto_free_port)
    while [ "$MOSQUITTO_TLS_PORT" = "$MOSQUITTO_PORT" ]; do MOSQUITTO_TLS_PORT=$(_mosquitto_free_port); done
    # As root, mosquitto drops to user "mosquitto", which cannot read files under a private (0700)
    # temporary directory; stay root instead (tests only, bound to loopback).
    local user_line=""
    [ "$(id -u)" = 0 ] && user_line="user root"
    cat >"$dir/mosquitto.conf" <<CONF
$user_line
per_listener_settings false
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
max_queued_messages 0
max_inflight_messages 0
listener $MOSQUITTO_PORT 127.0.0.1
listener $MOSQUITTO_TLS_PORT 127.0.0.1
cafile $dir/ca.pem
certfile $dir/server.pem
keyfile $dir/server.key
CONF
    "$MOSQUITTO_BIN" -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
    MOSQUITTO_PID=$!
    if ! _mosquitto_wait_port "$MOSQUITTO_PORT" || ! _mosquitto_wait_port "$MOSQUITTO_TLS_PORT"; then
        echo "mosquitto.sh: mosquitto did not start; log:" >&2
        cat "$dir/mosquitto.log" >&2
        return 1
    fi
    export MOSQUITTO_HOST=127.0.0.1 MOSQUITTO_PORT MOSQUITTO_TLS_PORT MOSQUITTO_PID MOSQUITTO_BIN
    export MOSQUITTO_CA_FILE="$dir/ca.pem"
}

mosquitto_stop() {
    if [ -n "${MOSQUITTO_PID:-}" ]; then
        kill "$MOSQUITTO_PID" 2>/dev/null
        wait "$MOSQUITTO_PID" 2>/dev/null
        unset MOSQUITTO_PID
    fi
}
