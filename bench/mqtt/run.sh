#!/usr/bin/env bash
# MQTT ingest benchmark: Vigil's subscriber against mosquitto_sub (the C client), interleaved.
#
# Starts a private Mosquitto on a free loopback port. For each QoS (0 and 1) it runs RUNS rounds;
# each round runs the Vigil subscriber (release build of bench/mqtt) and mosquitto_sub one after
# the other, alternating which goes first, each alone against the broker while publish.py sends it
# COUNT messages of 40 bytes as fast as the broker takes them.
#
# Both subscribers are configured as their users run them: the Vigil subscriber with the
# production configuration (MQTT 5, persistent session, receive maximum 64, a subscription buffer
# of 100,000 messages) and a consumer that reads each message's topic and payload, as the device
# watchdog does; mosquitto_sub with MQTT 5 (-V 5) and its output to /dev/null.
#
# The figure that matters is the CPU time per message of each subscriber process (user + system,
# start-up excluded, measure.py), since the machine is shared and the broker, not the client,
# sets the receive rate. Prints each run, then per QoS the median and spread (min-max) of each
# tool's CPU per message and of the per-round ratio Vigil / mosquitto_sub.
#
# Usage: bench/mqtt/run.sh                 (COUNT=1000000 QOS1_COUNT=200000 RUNS=3)
#        COUNT=200000 QOS1_COUNT=50000 RUNS=5 bench/mqtt/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
COUNT=${COUNT:-1000000}
QOS1_COUNT=${QOS1_COUNT:-200000}
RUNS=${RUNS:-3}
MOSQUITTO=${MOSQUITTO_BIN:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
for tool in "$MOSQUITTO" mosquitto_sub python3 swift; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (apt-get install mosquitto mosquitto-clients)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/vigil-mqtt-bench.XXXXXX)
BROKER_PID=""
cleanup() {
    if [ -n "$BROKER_PID" ]; then kill "$BROKER_PID" 2>/dev/null; wait "$BROKER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

if [ -z "${MQTT_BENCH_BIN:-}" ]; then
    echo "Building the benchmark (release)..." >&2
    swift build -c release --package-path "$HERE" --product MQTTBench >&2
fi
BIN=${MQTT_BENCH_BIN:-"$(swift build -c release --package-path "$HERE" --show-bin-path)/MQTTBench"}

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

echo "MQTT ingest benchmark: $(nproc) cores, $("$MOSQUITTO" -h 2>/dev/null | head -1), $RUNS interleaved rounds"
echo "uptime:$(uptime)"
RESULTS="$WORK/results.csv"
: >"$RESULTS"
run_one() { # TOOL QOS COUNT ROUND
    local tool=$1 qos=$2 count=$3 round=$4 topic="vigil-bench/$$/q$2/r$4/$1"
    if [ "$tool" = vigil ]; then
        set -- line -- "$BIN" --port "$PORT" --topic "$topic" --count "$count" --qos "$qos" --timeout 300
    else
        set -- delay -- mosquitto_sub -h 127.0.0.1 -p "$PORT" -V 5 -t "$topic" -q "$qos" -C "$count" -W 300
    fi
    python3 "$HERE/measure.py" "$tool" "$count" "$@" -- python3 "$HERE/publish.py" 127.0.0.1 "$PORT" "$topic" "$count" "$qos" |
        sed "s/^/$round,$qos,/" | tee -a "$RESULTS"
}
echo "round,qos,tool,count,cpu_total_s,cpu_startup_s,cpu_per_msg_us,seconds,exit,result"
for qos in 0 1; do
    count=$COUNT
    [ "$qos" = 1 ] && count=$QOS1_COUNT
    for round in $(seq 1 "$RUNS"); do
        if [ $((round % 2)) -eq 1 ]; then
            run_one vigil "$qos" "$count" "$round"; run_one mosquitto_sub "$qos" "$count" "$round"
        else
            run_one mosquitto_sub "$qos" "$count" "$round"; run_one vigil "$qos" "$count" "$round"
        fi
    done
done
echo "uptime:$(uptime)"
python3 - "$RESULTS" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))
print(f"{'QoS':<4} {'vigil us/msg':>22} {'mosquitto_sub us/msg':>22} {'ratio vigil/mosquitto_sub':>28} {'msg/s vigil / c':>18}")
for qos in ("0", "1"):
    cpu = {}
    rate = {}
    for row in rows:
        rnd, q, tool, count, _, _, per_msg, seconds, code, result = row
        if q != qos:
            continue
        missing = dict(kv.split("=", 1) for kv in result.split()[1:]).get("missing", "0")
        if code != "0" or missing != "0":
            print(f"  round {rnd} {tool} QoS {q}: exit {code}, missing {missing}")
        cpu[(tool, rnd)] = float(per_msg)
        rate[(tool, rnd)] = int(count) / float(seconds)
    rounds = sorted({r for (_, r) in cpu}, key=int)
    if not rounds:
        continue
    def summary(values, fmt):
        return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"
    v = [cpu[("vigil", r)] for r in rounds]
    c = [cpu[("mosquitto_sub", r)] for r in rounds]
    ratios = [cpu[("vigil", r)] / cpu[("mosquitto_sub", r)] for r in rounds]
    rates = f"{statistics.median(rate[('vigil', r)] for r in rounds):,.0f} / {statistics.median(rate[('mosquitto_sub', r)] for r in rounds):,.0f}"
    print(f"{qos:<4} {summary(v, '{:.2f}'):>22} {summary(c, '{:.2f}'):>22} {summary(ratios, '{:.3f}'):>28} {rates:>18}")
PY
