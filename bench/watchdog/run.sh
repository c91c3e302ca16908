#!/usr/bin/env bash
# Device watchdog benchmark, end to end over MQTT: Vigil's watchdog path against a Python
# paho-mqtt watchdog, interleaved, on the same replayed device traffic.
#
# Starts a private Mosquitto on a free loopback port. replay.py publishes the traffic of DEVICES
# devices (default 10,000) reporting every 1-4 s for DURATION seconds (default 20) in real time;
# one in ten falls silent and must expire once, TIMEOUT (default 5 s) after its last message.
# Each round runs both watchdogs one after the other, alternating which goes first, each alone
# against the broker:
#
# - vigil: WatchdogSubscriber (bench/mqtt, release build): MQTTClient with the production settings
#   (MQTT 5, persistent session, receive maximum 64, buffer 100,000), one subscription with every
#   device's filter, and DeviceWatchdog's receive and expiry loops over a DeviceTable (decode →
#   delivery → clock read, lock, topic trie, deadline engine);
# - paho: paho_watchdog.py, paho-mqtt 2 with asyncio: one call_later timer per device, cancelled
#   and scheduled again on each message (pip install paho-mqtt).
#
# Reported per run: CPU time per message of the watchdog process (user + system, start-up
# excluded), expiries found against expected, and expiry lateness (firing time minus deadline)
# p50/p99/max; then the median and spread (min-max) of each over RUNS rounds (default 3) and the
# ratio of CPU per message. bench/watchdog/engine.sh is the older in-process microbenchmark of
# the deadline engine alone.
#
# Usage: bench/watchdog/run.sh            DEVICES=100000 RUNS=5 bench/watchdog/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DEVICES=${DEVICES:-10000}
DURATION=${DURATION:-20}
TIMEOUT=${TIMEOUT:-5}
RUNS=${RUNS:-3}
MOSQUITTO=${MOSQUITTO_BIN:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
for tool in "$MOSQUITTO" python3 swift; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (apt-get install mosquitto)" >&2; exit 1; }
done
python3 -c 'import paho.mqtt' 2>/dev/null || { echo "run.sh: paho-mqtt missing (pip install paho-mqtt)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/vigil-watchdog-bench.XXXXXX)
BROKER_PID=""
cleanup() {
    if [ -n "$BROKER_PID" ]; then kill "$BROKER_PID" 2>/dev/null; wait "$BROKER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

MQTT_PACKAGE="$HERE/../mqtt"
if [ -z "${WATCHDOG_BENCH_BIN:-}" ]; then
    echo "Building the benchmark (release)..." >&2
    swift build -c release --package-path "$MQTT_PACKAGE" --product WatchdogSubscriber >&2
fi
BIN=${WATCHDOG_BENCH_BIN:-"$(swift build -c release --package-path "$MQTT_PACKAGE" --show-bin-path)/WatchdogSubscriber"}

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$WORK/mosquitto.conf" <<CONF
listener $PORT 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
log_type error
max_queued_messages 0
max_queued_bytes 0
CONF
"$MOSQUITTO" -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.05; done

echo "Device watchdog benchmark over MQTT: $(nproc) cores, $DEVICES devices, ${DURATION} s of traffic, timeout ${TIMEOUT} s, $RUNS interleaved rounds"
echo "uptime:$(uptime)"
RESULTS="$WORK/results.csv"
: >"$RESULTS"
run_one() { # TOOL ROUND
    if [ "$1" = vigil ]; then
        set -- "$1" "$2" "$BIN" --port "$PORT" --devices "$DEVICES" --timeout "$TIMEOUT"
    else
        set -- "$1" "$2" python3 "$HERE/paho_watchdog.py" 127.0.0.1 "$PORT" "$DEVICES" "$TIMEOUT"
    fi
    local tool=$1 round=$2
    shift 2
    python3 "$HERE/../mqtt/measure.py" "$tool" 0 line -- "$@" -- \
        python3 "$HERE/replay.py" 127.0.0.1 "$PORT" "$DEVICES" "$DURATION" "$TIMEOUT" | sed "s/^/$round,/" | tee -a "$RESULTS"
}
echo "round,tool,messages,cpu_total_s,cpu_startup_s,cpu_per_msg_us,seconds,exit,result"
for round in $(seq 1 "$RUNS"); do
    if [ $((round % 2)) -eq 1 ]; then run_one vigil "$round"; run_one paho "$round"; else run_one paho "$round"; run_one vigil "$round"; fi
done
echo "uptime:$(uptime)"
python3 - "$RESULTS" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))
data = {}
for rnd, tool, messages, _, _, per_msg, _, code, result in rows:
    fields = dict(kv.split("=", 1) for kv in result.split()[1:])
    data[(tool, rnd)] = dict(fields, cpu=float(per_msg), messages=int(messages), code=code)
rounds = sorted({r for (_, r) in data}, key=int)
def summary(values, fmt="{:.2f}"):
    values = [v for v in values if v == v]
    if not values:
        return "n/a"
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"
print(f"{'watchdog':<8} {'CPU us/msg':>20} {'received/sent':>16} {'expiries':>16} {'late p50 ms':>20} {'late p99 ms':>20} {'late max ms':>20}")
for tool in ("vigil", "paho"):
    runs = [data[(tool, r)] for r in rounds if (tool, r) in data]
    received = "/".join(sorted({f"{r['received']}/{r['messages']}" for r in runs}))
    expiries = ",".join(r["expiries"] for r in runs) + f" of {runs[0].get('expected', '?')}"
    print(f"{tool:<8} {summary([r['cpu'] for r in runs]):>20} {received:>16} {expiries:>16} "
          f"{summary([float(r['late_p50_ms']) for r in runs], '{:.1f}'):>20} {summary([float(r['late_p99_ms']) for r in runs], '{:.1f}'):>20} "
          f"{summary([float(r['late_max_ms']) for r in runs], '{:.1f}'):>20}")
ratios = [data[("vigil", r)]["cpu"] / data[("paho", r)]["cpu"] for r in rounds if ("vigil", r) in data and ("paho", r) in data]
print(f"CPU per message vigil / paho: {summary(ratios, '{:.3f}')}")
PY
