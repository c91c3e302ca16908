#!/usr/bin/env bash
# Prosody (XMPP) for Vigil's integration tests. Source this file, then:
#
#   prosody_start DIR   # writes a config into DIR, registers the test users, starts Prosody with a
#                       # c2s and a component (XEP-0114) listener on free loopback ports, waits until
#                       # both accept, and exports PROSODY_HOST, PROSODY_C2S_PORT,
#                       # PROSODY_COMPONENT_PORT, PROSODY_DOMAIN, PROSODY_COMPONENT_DOMAIN,
#                       # PROSODY_COMPONENT_SECRET, PROSODY_USERS ("user:password" pairs separated
#                       # by spaces), PROSODY_CA_FILE, PROSODY_BIN, PROSODYCTL_BIN and PROSODY_PID
#   prosody_stop        # stops that server
#
# c2s offers STARTTLS (optional) with a self-signed certificate for the domain (PROSODY_CA_FILE is
# that certificate), and SASL PLAIN and SCRAM-SHA-1 also without TLS.

SERVICE_PACKAGES+=(prosody openssl)
PROSODY_BIN="${PROSODY_BIN:-$(command -v prosody || echo /usr/bin/prosody)}"
PROSODYCTL_BIN="${PROSODYCTL_BIN:-$(command -v prosodyctl || echo /usr/bin/prosodyctl)}"

# Prints two distinct free loopback TCP ports (c2s, component) on one line.
_prosody_free_ports() {
    python3 -c '
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
for s in sockets: s.close()'
}

# Waits up to 10 s until every given loopback port accepts a connection.
_prosody_wait_ports() {
    local deadline=$((SECONDS + 10)) port
    for port in "$@"; do
        until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
            [ $SECONDS -lt $deadline ] || return 1
            sleep 0.05
        done
    done
}

# Writes DIR/prosody.cfg.lua for the given ports (also used by tests that run a private server).
prosody_write_config() {
    local dir=$1 c2s_port=$2 component_port=$3 domain=${PROSODY_DOMAIN:-example.test}
    mkdir -p "$dir/data" "$dir/certs"
    if [ ! -f "$dir/$domain.crt" ]; then
        openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=$domain" -addext "subjectAltName=DNS:$domain" \
            -keyout "$dir/$domain.key" -out "$dir/$domain.crt" >/dev/null 2>&1 || return 1
        chmod 644 "$dir/$domain.key" "$dir/$domain.crt"
    fi
    cat >"$dir/prosody.cfg.lua" <<CONF
run_as_root = true -- tests only, bound to loopback
pidfile = "$dir/prosody.pid"
data_path = "$dir/data"
log = { { levels = { min = "info" }, to = "console" } }
interfaces = { "127.0.0.1" }
local_interfaces = { "127.0.0.1" }
c2s_ports = { $c2s_port }
component_ports = { $component_port }
modules_enabled = { "roster", "saslauth", "tls", "disco", "ping" }
modules_disabled = { "s2s" }
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_plain"
storage = "internal"
VirtualHost "$domain"
    ssl = { certificate = "$dir/$domain.crt"; key = "$dir/$domain.key" }
Component "${PROSODY_COMPONENT_DOMAIN:-announcer.example.test}"
    component_secret = "${PROSODY_COMPONENT_SECRET:-s3cret}"
CONF
}

prosody_start() {
    local dir=${1:?usage: prosody_start DIR}
    mkdir -p "$dir" && chmod 755 "$dir"
    export PROSODY_DOMAIN=example.test PROSODY_COMPONENT_DOMAIN=announcer.example.test PROSODY_COMPONENT_SECRET=s3cret
    read -r PROSODY_C2S_PORT PROSODY_COMPONENT_PORT < <(_prosody_free_ports)
    prosody_write_config "$dir" "$PROSODY_C2S_PORT" "$PROSODY_COMPONENT_PORT" || { echo "prosody.sh: config failed" >&2; return 1; }
    export PROSODY_CA_FILE="$dir/$PROSODY_DOMAIN.crt"
    PROSODY_USERS="alice:alicepw bob:bobpw"
    local pair
    for pair in $PROSODY_USERS; do
        "$PROSODYCTL_BIN" --config "$dir/prosody.cfg.lua" register "${pair%%:*}" "$PROSODY_DOMAIN" "${pair#*:}" \
            >>"$dir/prosodyctl.log" 2>&1 || { echo "prosody.sh: registering ${pair%%:*} failed" >&2; cat "$dir/prosodyctl.log" >&2; return 1; }
    done
    "$PROSODY_BIN" --config "$dir/prosody.cfg.lua" -F >"$dir/prosody.log" 2>&1 &
    PROSODY_PID=$!
    if ! _prosody_wait_ports "$PROSODY_C2S_PORT" "$PROSODY_COMPONENT_PORT"; then
        echo "prosody.sh: prosody did not start; log:" >&2
        cat "$dir/prosody.log" >&2
        return 1
    fi
    # PROSODY_DATA_DIR: the internal storage (accounts, offline messages), for tests that add many
    # users at once or count what reached them.
    export PROSODY_DATA_DIR="$dir/data"
    export PROSODY_HOST=127.0.0.1 PROSODY_C2S_PORT PROSODY_COMPONENT_PORT PROSODY_USERS PROSODY_PID PROSODY_BIN PROSODYCTL_BIN
}

prosody_stop() {
    if [ -n "${PROSODY_PID:-}" ]; then
        kill "$PROSODY_PID" 2>/dev/null
        wait "$PROSODY_PID" 2>/dev/null
        unset PROSODY_PID
    fi
}
