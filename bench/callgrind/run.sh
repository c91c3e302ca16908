#!/usr/bin/env bash
# Instruction counts per message and per round trip, with valgrind's callgrind: figures that do not
# move with machine load, so that a regression shows without timing noise.
#
# Workloads (release builds, run under callgrind on a private Mosquitto and redis-server):
# - mqtt-qos0 / mqtt-qos1: bench/mqtt's MQTTBench (MQTTClient with the production settings, one
#   subscription, a consumer reading topic and payload) receiving N messages of 40 bytes;
# - watchdog: bench/mqtt's WatchdogSubscriber (MQTT decode → delivery → DeviceWatchdog's receive
#   loop over a DeviceTable of DEVICES devices) receiving N messages spread over the devices;
# - redis: bench/redis's RedisBench (built in bench/mqtt through a symlink), GET and SET with
#   3-byte values at pipeline depth 1.
# Each workload runs twice, with N and with a smaller BASE count; the difference of the
# instructions collected (all threads), divided by the difference of messages (round trips),
# removes start-up, connection and subscription, and is the figure per message (round trip).
#
# Valgrind cannot read the DWARF 5 that this toolchain writes, so each binary is copied without
# its debug sections (objcopy --strip-debug): callgrind counts instructions all the same and names
# functions from the symbol table. Under callgrind the subscriber is slower than the broker, so
# messages arrive in large reads (up to 64 per read at QoS 1, the receive maximum): the figures
# are the cost of the receive path with full reads, the cheapest case.
#
# Usage: bench/callgrind/run.sh            (N=20000 BASE=2000 DEVICES=1000)
#        KEEP=/tmp/cg bench/callgrind/run.sh   keeps the callgrind.out files for callgrind_annotate
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
N=${N:-20000}
BASE=${BASE:-2000}
DEVICES=${DEVICES:-1000}
MOSQUITTO=${MOSQUITTO_BIN:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
REDIS=${REDIS_BIN:-$(command -v redis-server || echo /usr/bin/redis-server)}
for tool in valgrind objcopy "$MOSQUITTO" "$REDIS" python3 swift; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (apt-get install valgrind mosquitto redis-server)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/vigil-callgrind.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

MQTT_PACKAGE="$HERE/../mqtt"
if [ -z "${SKIP_BUILD:-}" ]; then
    echo "Building the benchmarks (release)..." >&2
    swift build -c release --package-path "$MQTT_PACKAGE" >&2
fi
BIN_DIR=${BENCH_BIN_DIR:-"$(swift build -c release --package-path "$MQTT_PACKAGE" --show-bin-path)"}
for binary in "$BIN_DIR/MQTTBench" "$BIN_DIR/WatchdogSubscriber" "$BIN_DIR/RedisBench"; do
    objcopy --strip-debug "$binary" "$WORK/$(basename "$binary")"
done

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
MQTT_PORT=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\nmax_queued_bytes 0\n' "$MQTT_PORT" >"$WORK/mosquitto.conf"
"$MOSQUITTO" -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
PIDS+=($!)
REDIS_PORT=$(free_port)
"$REDIS" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$WORK" >"$WORK/redis.log" 2>&1 &
PIDS+=($!)
sleep 1

# callgrind_run NAME CMD...: prints the instructions collected (Ir, all threads).
callgrind_run() {
    local name=$1
    shift
    valgrind --tool=callgrind --callgrind-out-file="$WORK/callgrind.$name.out" "$@" >"$WORK/$name.stdout" 2>"$WORK/$name.stderr" ||
        { echo "callgrind run $name failed:" >&2; tail -5 "$WORK/$name.stderr" >&2; exit 1; }
    sed -n 's/.*Collected : \([0-9]*\).*/\1/p' "$WORK/$name.stderr"
}

# mqtt_run NAME COUNT QOS: a subscriber under callgrind, publish.py sending COUNT messages.
mqtt_run() {
    local name=$1 count=$2 qos=$3 topic="vigil-callgrind/$$/$1"
    callgrind_run "$name" "$WORK/MQTTBench" --port "$MQTT_PORT" --topic "$topic" --count "$count" --qos "$qos" --timeout 600 &
    local pid=$!
    for _ in $(seq 1 600); do grep -q READY "$WORK/$name.stdout" 2>/dev/null && break; sleep 0.1; done
    python3 "$HERE/../mqtt/publish.py" 127.0.0.1 "$MQTT_PORT" "$topic" "$count" "$qos" >/dev/null
    wait "$pid"
}

watchdog_run() {
    local name=$1 count=$2
    callgrind_run "$name" "$WORK/WatchdogSubscriber" --port "$MQTT_PORT" --devices "$DEVICES" --timeout 3600 --count "$count" &
    local pid=$!
    for _ in $(seq 1 600); do grep -q READY "$WORK/$name.stdout" 2>/dev/null && break; sleep 0.1; done
    python3 "$HERE/../mqtt/publish.py" 127.0.0.1 "$MQTT_PORT" "site/dev{device}/sensors/temp" "$count" 0 "$DEVICES" >/dev/null
    wait "$pid"
}

echo "Instruction counts (callgrind, $(valgrind --version)), N=$N, base $BASE"
printf '%-12s %16s %16s %12s %s\n' workload "Ir (N)" "Ir (base)" "Ir per unit" unit
report() { # NAME IR_N IR_BASE UNITS UNIT
    printf '%-12s %16s %16s %12.0f %s\n' "$1" "$2" "$3" "$(echo "($2 - $3) / $4" | bc -l)" "$5"
}
for qos in 0 1; do
    big=$(mqtt_run "mqtt-qos$qos-n" "$N" "$qos")
    small=$(mqtt_run "mqtt-qos$qos-base" "$BASE" "$qos")
    report "mqtt-qos$qos" "$big" "$small" "$((N - BASE))" message
done
big=$(watchdog_run watchdog-n "$N")
small=$(watchdog_run watchdog-base "$BASE")
report watchdog "$big" "$small" "$((N - BASE))" "message ($DEVICES devices)"
# RedisBench runs SET then GET, each with min(N, 1000) warm-up requests before N measured ones.
big=$(callgrind_run redis-n "$WORK/RedisBench" --port "$REDIS_PORT" --requests "$N" --pipeline 1 --size 3)
small=$(callgrind_run redis-base "$WORK/RedisBench" --port "$REDIS_PORT" --requests "$BASE" --pipeline 1 --size 3)
report redis "$big" "$small" "$((2 * (N - BASE)))" "round trip (GET/SET, depth 1)"
if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp "$WORK"/callgrind.*.out "$KEEP"/ && echo "callgrind files in $KEEP" >&2; fi
