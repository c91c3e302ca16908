#!/usr/bin/env bash
# MQTT ingest benchmark: Vigil's subscriber against mosquitto_sub (the C client), in the same run.
#
# Starts a private Mosquitto on a free loopback port, subscribes a Vigil client (release build of
# bench/mqtt) and mosquitto_sub to the same topic, publishes COUNT messages of 40 bytes, and
# reports for each subscriber the receive rate: COUNT divided by the time from the start of
# publishing until that subscriber has received the last message. The publisher (publish.py)
# pre-encodes all packets and writes them at once, so that it is not the bottleneck. A second run
# at QoS 1 checks that no message is lost (every sequence number arrives).
#
# Usage: bench/mqtt/run.sh            (COUNT=1000000 QOS1_COUNT=100000 by default)
#        COUNT=200000 bench/mqtt/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
COUNT=${COUNT:-1000000}
QOS1_COUNT=${QOS1_COUNT:-100000}
MOSQUITTO=${MOSQUITTO_BIN:-$(command -v mosquitto || echo /usr/sbin/mosquitto)}
for tool in "$MOSQUITTO" mosquitto_sub python3 swift; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (apt-get install mosquitto mosquitto-clients)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/vigil-mqtt-bench.XXXXXX)
BROKER_PID=""
cleanup() {
    [ -n "$BROKER_PID" ] && kill "$BROKER_PID" 2>/dev/null && wait "$BROKER_PID" 2>/dev/null
    jobs -p | xargs -r kill 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "Building the benchmark (release)..." >&2
swift build -c release --package-path "$HERE" --product MQTTBench >&2
BIN="$(swift build -c release --package-path "$HERE" --show-bin-path)/MQTTBench"

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

now() { date +%s.%N; }

# cpu_run FILE CMD...: runs CMD and writes its CPU time (user + system seconds) into FILE.
cpu_run() {
    python3 -c 'import resource, subprocess, sys
subprocess.run(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write("%.3f" % (r.ru_utime + r.ru_stime))' "$@"
}

# run_case QOS COUNT: prints one summary line per subscriber and the ratio.
run_case() {
    local qos=$1 count=$2 topic="vigil-bench/$$/q$1"
    cpu_run "$WORK/vigil.cpu" "$BIN" --port "$PORT" --topic "$topic" --count "$count" --qos "$qos" --timeout 300 >"$WORK/vigil.out" &
    local vigil_pid=$!
    for _ in $(seq 1 200); do grep -q READY "$WORK/vigil.out" 2>/dev/null && break; sleep 0.05; done
    ( set +e
      cpu_run "$WORK/csub.cpu" mosquitto_sub -h 127.0.0.1 -p "$PORT" -t "$topic" -q "$qos" -C "$count" -W 300 >"$WORK/csub.payloads"
      echo "$? $(now)" >"$WORK/csub.end" ) &
    local csub_pid=$!
    sleep 1
    python3 "$HERE/publish.py" 127.0.0.1 "$PORT" "$topic" "$count" "$qos" >"$WORK/pub.out"
    local start pub_end
    start=$(sed -n 's/^start=//p' "$WORK/pub.out")
    pub_end=$(sed -n 's/^end=//p' "$WORK/pub.out")
    wait "$vigil_pid" || true
    wait "$csub_pid" || true
    python3 - "$qos" "$count" "$start" "$pub_end" "$WORK" <<'PY'
import sys
qos, count, start, pub_end, work = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
fields = dict(kv.split("=") for kv in open(f"{work}/vigil.out").read().split("\n")[-2].split()[1:])
vigil_end = float(fields["end"])
rc, c_end = open(f"{work}/csub.end").read().split()
c_end = float(c_end)
lines = open(f"{work}/csub.payloads", "rb").read().split(b"\n")
seqs = {int(l[:10]) for l in lines if len(l) >= 10 and l[:10].isdigit()}
c_missing = count - len(seqs)
vigil_rate = count / (vigil_end - start) if fields["missing"] == "0" else float("nan")
c_rate = count / (c_end - start) if c_missing == 0 else float("nan")
print(f"QoS {qos}, {count} messages of 40 bytes; publisher took {pub_end - start:.3f} s ({count / (pub_end - start):,.0f} msg/s)")
vigil_cpu = float(open(f"{work}/vigil.cpu").read())
c_cpu = float(open(f"{work}/csub.cpu").read())
print(f"  vigil          : {vigil_rate:>10,.0f} msg/s  ({vigil_end - start:.3f} s, missing {fields['missing']}, duplicates {fields['duplicates']}, CPU {vigil_cpu:.2f} s = {vigil_cpu / count * 1e6:.2f} us/msg)")
print(f"  mosquitto_sub  : {c_rate:>10,.0f} msg/s  ({c_end - start:.3f} s, missing {c_missing}, exit {rc}, CPU {c_cpu:.2f} s = {c_cpu / count * 1e6:.2f} us/msg)")
print(f"  ratio vigil / mosquitto_sub: {vigil_rate / c_rate:.3f}")
PY
}

echo "MQTT ingest benchmark: $(nproc) cores, $("$MOSQUITTO" -h 2>/dev/null | head -1)"
run_case 0 "$COUNT"
run_case 1 "$QOS1_COUNT"
