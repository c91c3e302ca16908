#!/usr/bin/env bash
# Janus 1.1.2 gateways for Vigil's gateway integration tests. Source this file, then:
#
#   janus_start DIR   # checks the janus binary and plugin folders, writes configuration templates
#                     # into DIR/templates, and exports JANUS_BIN, JANUS_TEMPLATE_DIR,
#                     # JANUS_LIB_DIR and JANUS_CONFIG_ROOT
#   janus_render NAME OUT BROKER_URL PREFIX [HTTP_PORT]
#                     # writes a config folder OUT for gateway NAME whose MQTT topics are
#                     # PREFIX/NAME/... on BROKER_URL; with HTTP_PORT, the HTTP admin API listens
#                     # on 127.0.0.1:HTTP_PORT as well. Run it with `janus -F OUT -s 3`.
#   janus_stop        # nothing to stop: the tests start and stop their own gateways
#
# scripts/test sources service files in alphabetical order, so janus_start runs before the broker
# exists: it only prepares. The tests render a folder per gateway with unique topic prefixes and
# start, kill -9, SIGSTOP and restart the janus processes themselves (Tests/IntegrationTests/
# GatewaysTestSupport.swift renders the same templates). Every gateway binds nothing but
# 127.0.0.1 (interface = 127.0.0.1; only the HTTP admin variant listens, on loopback), and talks
# only to the broker. See ../shared/notes/janus-fleet.md for why each setting is there.

SERVICE_PACKAGES+=(janus)

JANUS_BIN="${JANUS_BIN:-$(command -v janus || echo /usr/bin/janus)}"

janus_start() {
    local dir=${1:?usage: janus_start DIR}
    mkdir -p "$dir/templates"
    if [ ! -x "$JANUS_BIN" ]; then
        echo "janus.sh: janus binary not found ($JANUS_BIN)" >&2
        return 1
    fi
    local lib
    lib=$(dirname "$(ls -d /usr/lib/*/janus/plugins 2>/dev/null | head -n 1)")
    if [ -z "$lib" ] || [ ! -d "$lib/transports" ]; then
        echo "janus.sh: janus plugin folders not found under /usr/lib/*/janus" >&2
        return 1
    fi
    if ! ls "$lib/transports/libjanus_mqtt.so" >/dev/null 2>&1; then
        echo "janus.sh: the janus MQTT transport (libjanus_mqtt.so) is missing" >&2
        return 1
    fi
    _janus_write_templates "$dir/templates" "$lib"
    export JANUS_BIN JANUS_LIB_DIR="$lib" JANUS_TEMPLATE_DIR="$dir/templates" JANUS_CONFIG_ROOT="$dir"
    # When a broker is already known (VIGIL_SERVICES order, or a manual run after mosquitto_start),
    # also write ready folders gxy1..gxy3 and gxyh (HTTP admin API on a free port) for manual use.
    if [ -n "${MOSQUITTO_PORT:-}" ]; then
        local broker="tcp://${MOSQUITTO_HOST:-127.0.0.1}:$MOSQUITTO_PORT" name
        for name in gxy1 gxy2 gxy3; do janus_render "$name" "$dir/$name" "$broker" janus; done
        janus_render gxyh "$dir/gxyh" "$broker" janus "$(_janus_free_port)"
    fi
}

_janus_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Writes the three templates. Placeholders: @NAME@ @CLIENT_ID@ @BROKER_URL@ @PREFIX@
# @ADMIN_SECRET@ @HTTP_DISABLE@ @HTTP_PORT@ @LIB@.
_janus_write_templates() {
    local out=$1 lib=$2
    cat >"$out/janus.jcfg" <<'CONF'
general: {
	plugins_folder = "@LIB@/plugins"
	transports_folder = "@LIB@/transports"
	events_folder = "@LIB@/events"
	loggers_folder = "@LIB@/loggers"
	debug_level = 4
	debug_timestamps = true
	debug_colors = false
	server_name = "@NAME@"
	interface = "127.0.0.1"
	admin_secret = "@ADMIN_SECRET@"
	session_timeout = 60
}
nat: {
	ice_enforce_list = "lo"
	ignore_mdns = true
}
plugins: {
	disable = "libjanus_audiobridge.so,libjanus_duktape.so,libjanus_lua.so,libjanus_nosip.so,libjanus_recordplay.so,libjanus_sip.so,libjanus_streaming.so,libjanus_textroom.so,libjanus_videocall.so,libjanus_videoroom.so,libjanus_voicemail.so"
}
transports: {
	disable = "@HTTP_DISABLE@libjanus_websockets.so,libjanus_pfunix.so,libjanus_rabbitmq.so,libjanus_nanomsg.so"
}
loggers: {
	disable = "libjanus_jsonlog.so"
}
CONF
    cat >"$out/janus.transport.mqtt.jcfg" <<'CONF'
general: {
	enabled = true
	json = "compact"
	url = "@BROKER_URL@"
	mqtt_version = "3.1.1"
	client_id = "@CLIENT_ID@"
	keep_alive_interval = 20
	cleansession = 1
	max_inflight = 1000
	max_buffered = 10000
	subscribe_topic = "@PREFIX@/@NAME@/to-janus"
	publish_topic = "@PREFIX@/@NAME@/from-janus"
}
admin: {
	admin_enabled = true
	subscribe_topic = "@PREFIX@/@NAME@/to-janus-admin"
	publish_topic = "@PREFIX@/@NAME@/from-janus-admin"
}
status: {
	enabled = true
	connect_message = "{\"online\": true}"
	disconnect_message = "{\"online\": false}"
	topic = "@PREFIX@/@NAME@/status"
	qos = 1
	retain = false
}
CONF
    cat >"$out/janus.transport.http.jcfg" <<'CONF'
general: {
	json = "compact"
	base_path = "/janus"
	http = false
	https = false
}
admin: {
	admin_base_path = "/admin"
	admin_http = true
	admin_port = @HTTP_PORT@
	admin_ip = "127.0.0.1"
	admin_https = false
}
CONF
    echo "$lib" >"$out/lib"
}

janus_render() {
    local name=${1:?usage: janus_render NAME OUT BROKER_URL PREFIX [HTTP_PORT]} out=${2:?} broker=${3:?} prefix=${4:?} http_port=${5:-}
    local templates=${JANUS_TEMPLATE_DIR:?run janus_start first}
    local lib http_disable="libjanus_http.so,"
    lib=$(cat "$templates/lib")
    mkdir -p "$out"
    [ -n "$http_port" ] && http_disable=""
    local file
    for file in janus.jcfg janus.transport.mqtt.jcfg; do
        sed -e "s|@NAME@|$name|g" -e "s|@CLIENT_ID@|janus-$name-$$-$RANDOM|g" -e "s|@BROKER_URL@|$broker|g" \
            -e "s|@PREFIX@|$prefix|g" -e "s|@ADMIN_SECRET@|janusoverlord|g" -e "s|@HTTP_DISABLE@|$http_disable|g" \
            -e "s|@LIB@|$lib|g" "$templates/$file" >"$out/$file"
    done
    if [ -n "$http_port" ]; then
        sed -e "s|@HTTP_PORT@|$http_port|g" "$templates/janus.transport.http.jcfg" >"$out/janus.transport.http.jcfg"
    fi
}

janus_stop() {
    # The tests start and stop their own gateways; nothing is left running by janus_start.
    :
}
