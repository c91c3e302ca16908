#!/usr/bin/env bash
# ejabberd (the XMPP server of seed 001) for Vigil's integration tests. Source this file, then:
#
#   ejabberd_start DIR   # writes ctl.cfg and ejabberd.yml into DIR, starts ejabberd with a c2s and a
#                        # component (XEP-0114) listener on free loopback ports, registers the test
#                        # users, and exports EJABBERD_HOST, EJABBERD_C2S_PORT,
#                        # EJABBERD_COMPONENT_PORT, EJABBERD_DOMAIN, EJABBERD_COMPONENT_DOMAIN,
#                        # EJABBERD_COMPONENT_SECRET, EJABBERD_USERS ("user:password" pairs);
#                        # also an MQTT broker (mod_mqtt, MQTT 3.1.1 and 5) on EJABBERD_MQTT_PORT,
#                        # for the user EJABBERD_MQTT_USER (name@domain) / EJABBERD_MQTT_PASSWORD;
#                        # and the HTTP API (mod_http_api) at EJABBERD_API_URL, where the admin
#                        # EJABBERD_API_USER (name@domain) / EJABBERD_API_PASSWORD may call
#                        # connected_users and connected_users_info (HTTP Basic authentication)
#   ejabberd_stop        # stops it
#
# The Erlang VM runs as user ejabberd even when started by root, so DIR is handed to that user and
# its parent made searchable. No epmd: the distribution port is fixed in ctl.cfg.

SERVICE_PACKAGES+=(ejabberd)
EJABBERDCTL_BIN="${EJABBERDCTL_BIN:-$(command -v ejabberdctl || echo /usr/sbin/ejabberdctl)}"

_ejabberd_free_ports() {
    python3 -c '
import socket
sockets = [socket.socket() for _ in range(5)]
for s in sockets: s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
for s in sockets: s.close()'
}

_ejabberd_ctl() {
    "$EJABBERDCTL_BIN" -c "$EJABBERD_DIR/ctl.cfg" -s "$EJABBERD_DIR/db" -l "$EJABBERD_DIR/logs" "$@"
}

ejabberd_start() {
    local dir=${1:?usage: ejabberd_start DIR} dist_port
    mkdir -p "$dir/db" "$dir/logs" "$dir/modules.d"
    chmod 755 "$dir"
    chmod o+x "$(dirname "$dir")"
    EJABBERD_DIR=$dir
    export EJABBERD_DOMAIN=example.test EJABBERD_COMPONENT_DOMAIN=announcer.example.test EJABBERD_COMPONENT_SECRET=s3cret
    read -r EJABBERD_C2S_PORT EJABBERD_COMPONENT_PORT dist_port EJABBERD_MQTT_PORT EJABBERD_API_PORT < <(_ejabberd_free_ports)
    EJABBERD_NODE=vigilejab$dist_port@localhost
    cat >"$dir/ctl.cfg" <<CONF
ERLANG_NODE=vigilejab$dist_port@localhost
INET_DIST_INTERFACE=127.0.0.1
ERL_DIST_PORT=$dist_port
EJABBERD_PID_PATH=$dir/ejabberd.pid
EJABBERD_CONFIG_PATH=$dir/ejabberd.yml
CONTRIB_MODULES_CONF_DIR=$dir/modules.d
CONF
    cat >"$dir/ejabberd.yml" <<CONF
hosts: [$EJABBERD_DOMAIN]
certfiles: []
loglevel: warning
listen:
  - {port: $EJABBERD_C2S_PORT, ip: "127.0.0.1", module: ejabberd_c2s, shaper: c2s_shaper, access: c2s}
  - port: $EJABBERD_COMPONENT_PORT
    ip: "127.0.0.1"
    module: ejabberd_service
    hosts:
      $EJABBERD_COMPONENT_DOMAIN:
        password: $EJABBERD_COMPONENT_SECRET
  - {port: $EJABBERD_MQTT_PORT, ip: "127.0.0.1", module: mod_mqtt}
  - {port: $EJABBERD_API_PORT, ip: "127.0.0.1", module: ejabberd_http, request_handlers: {/api: mod_http_api}}
acl: {admin: {user: admin@$EJABBERD_DOMAIN}}
api_permissions:
  "console commands": {from: ejabberd_ctl, who: all, what: "*"}
  "online users for the admin": {from: mod_http_api, who: {acl: admin}, what: [connected_users, connected_users_info]}
access_rules: {local: {allow: all}, c2s: {allow: all}, announce: {allow: admin}, configure: {allow: admin}}
shaper: {normal: {rate: 3000, burst_size: 20000}, fast: 100000}
shaper_rules: {c2s_shaper: fast, max_user_sessions: 10, max_user_offline_messages: 5000}
auth_method: internal
auth_password_format: plain
modules: {mod_disco: {}, mod_offline: {}, mod_ping: {}, mod_roster: {}, mod_stream_mgmt: {}, mod_mqtt: {}}
CONF
    chown -R ejabberd: "$dir"
    _ejabberd_ctl foreground >"$dir/fg.out" 2>&1 &
    EJABBERD_PID=$!
    local deadline=$((SECONDS + 30)) port
    for port in "$EJABBERD_C2S_PORT" "$EJABBERD_COMPONENT_PORT" "$EJABBERD_MQTT_PORT" "$EJABBERD_API_PORT"; do
        until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
            if [ $SECONDS -ge $deadline ] || ! kill -0 "$EJABBERD_PID" 2>/dev/null; then
                echo "ejabberd.sh: ejabberd did not start; log:" >&2
                cat "$dir/fg.out" "$dir"/logs/*.log >&2 2>/dev/null
                return 1
            fi
            sleep 0.1
        done
    done
    EJABBERD_USERS="alice:alicepw bob:bobpw"
    local pair
    for pair in $EJABBERD_USERS; do
        _ejabberd_ctl register "${pair%%:*}" "$EJABBERD_DOMAIN" "${pair#*:}" >>"$dir/register.log" 2>&1 \
            || { echo "ejabberd.sh: registering ${pair%%:*} failed" >&2; cat "$dir/register.log" >&2; return 1; }
    done
    # The MQTT tests' user, kept out of EJABBERD_USERS (the XMPP tests' recipients).
    _ejabberd_ctl register mqtt "$EJABBERD_DOMAIN" mqttpw >>"$dir/register.log" 2>&1 \
        || { echo "ejabberd.sh: registering mqtt failed" >&2; cat "$dir/register.log" >&2; return 1; }
    export EJABBERD_MQTT_USER=mqtt@$EJABBERD_DOMAIN EJABBERD_MQTT_PASSWORD=mqttpw
    # The HTTP API's admin, also kept out of EJABBERD_USERS.
    _ejabberd_ctl register admin "$EJABBERD_DOMAIN" adminpw >>"$dir/register.log" 2>&1 \
        || { echo "ejabberd.sh: registering admin failed" >&2; cat "$dir/register.log" >&2; return 1; }
    export EJABBERD_API_URL=http://127.0.0.1:$EJABBERD_API_PORT/api EJABBERD_API_USER=admin@$EJABBERD_DOMAIN EJABBERD_API_PASSWORD=adminpw
    export EJABBERD_HOST=127.0.0.1 EJABBERD_C2S_PORT EJABBERD_COMPONENT_PORT EJABBERD_MQTT_PORT EJABBERD_API_PORT EJABBERD_USERS EJABBERD_PID EJABBERD_DIR
}

ejabberd_stop() {
    if [ -n "${EJABBERD_PID:-}" ]; then
        _ejabberd_ctl stop >/dev/null 2>&1 || kill "$EJABBERD_PID" 2>/dev/null
        local waited=0
        while kill -0 "$EJABBERD_PID" 2>/dev/null && [ $waited -lt 100 ]; do sleep 0.1; waited=$((waited + 1)); done
        kill -9 "$EJABBERD_PID" 2>/dev/null
        wait "$EJABBERD_PID" 2>/dev/null
        # The VM's children (epmd-less beam, heart) follow the node; make sure none is left. Only
        # this node's: another test run on the machine has its own (the name carries the port).
        pkill -u ejabberd -f "$EJABBERD_NODE" 2>/dev/null
        unset EJABBERD_PID EJABBERD_NODE
    fi
}
