#!/usr/bin/env bash
# Host agent footprint: the release `vigil agent` beside the seed-003 plan's psutil agent
# (psutil_agent.py: psutil + paho-mqtt from PyPI), both sampling this machine every INTERVAL seconds
# and publishing the same JSON report over MQTT (QoS 1, retained status, Last Will) to a Mosquitto
# started here.
#
# ROUNDS interleaved rounds (vigil first in odd rounds, psutil first in even ones); each agent runs
# alone for WARMUP + DURATION seconds. Measured from /proc: CPU time (utime + stime) over DURATION
# after WARMUP, as a share of one core; VmRSS at the end and VmHWM (peak). Every report the broker
# delivers is counted, to show both did the same work. Prints the median and spread (min–max) of
# each, and checks the goals: vigil ≤ 10 MB RSS and ≤ 0.2 % of a core, and below psutil on both.
#
# Usage: bench/agent/run.sh                          (INTERVAL=5 WARMUP=10 DURATION=60 ROUNDS=3)
#        PYTHON=/tmp/venv/bin/python3 DURATION=120 bench/agent/run.sh
# Needs mosquitto and mosquitto_sub (Debian), and psutil and paho-mqtt for PYTHON
# (python3 -m venv /tmp/agent-bench-venv && /tmp/agent-bench-venv/bin/pip install psutil paho-mqtt).
set -euo pipefail
cd "$(dirname "$0")/../.."
HERE=bench/agent

INTERVAL=${INTERVAL:-5}
WARMUP=${WARMUP:-10}
DURATION=${DURATION:-60}
ROUNDS=${ROUNDS:-3}
PYTHON=${PYTHON:-python3}
"$PYTHON" -c 'import psutil, paho.mqtt' 2>/dev/null || { echo "run.sh: $PYTHON lacks psutil or paho-mqtt (pip install psutil paho-mqtt)" >&2; exit 1; }
command -v mosquitto_sub >/dev/null || { echo "run.sh: mosquitto_sub missing (apt-get install mosquitto-clients)" >&2; exit 1; }

if [ -z "${VIGIL_BIN:-}" ]; then
    swift build -c release --product vigil >/dev/null
    VIGIL_BIN=$(swift build -c release --show-bin-path)/vigil
fi

WORK=$(mktemp -d /tmp/vigil-agent-bench.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nlog_dest stderr\n' "$PORT" >"$WORK/mosquitto.conf"
/usr/sbin/mosquitto -c "$WORK/mosquitto.conf" >"$WORK/mosquitto.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do
    (echo >"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
    sleep 0.1
done
PREFIX=bench/agents
mosquitto_sub -h 127.0.0.1 -p "$PORT" -q 1 -t "$PREFIX/+/metrics" -F '%t' >"$WORK/delivered.txt" 2>/dev/null &
PIDS+=($!)

ticks() { awk '{sub(/.*\) /, ""); print $12 + $13}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
status_kb() { awk -v key="$2:" '$1 == key {print $2}' "/proc/$1/status"; }

# breakdown PID: resident kB per mapping (file or [anon]), largest first, plus RssAnon/RssFile.
breakdown() {
    grep -E 'RssAnon|RssFile|Threads' "/proc/$1/status"
    awk '/^[0-9a-f]+-[0-9a-f]+ / {name = (NF >= 6 ? $6 : "[anon]")} /^Rss:/ {rss[name] += $2}
         END {for (n in rss) printf "%8d kB %s\n", rss[n], n}' "/proc/$1/smaps" | sort -rn | head -12
}

# run_one TOOL ROUND: one agent alone for WARMUP + DURATION seconds; appends to $WORK/results.
run_one() {
    local tool=$1 round=$2 name="$1-r$2"
    if [ "$tool" = vigil ]; then
        VIGIL_AGENT_TOPIC_PREFIX=$PREFIX "$VIGIL_BIN" agent --push "mqtt://127.0.0.1:$PORT" --name "$name" --interval "${INTERVAL}s" \
            >"$WORK/$name.log" 2>&1 &
    else
        "$PYTHON" "$HERE/psutil_agent.py" 127.0.0.1 "$PORT" "$name" "$INTERVAL" "$PREFIX" >"$WORK/$name.log" 2>&1 &
    fi
    local pid=$!
    PIDS+=("$pid")
    sleep "$WARMUP"
    local before
    before=$(ticks "$pid")
    sleep "$DURATION"
    local after rss hwm
    after=$(ticks "$pid")
    rss=$(status_kb "$pid" VmRSS)
    hwm=$(status_kb "$pid" VmHWM)
    [ "$tool" = vigil ] && breakdown "$pid" >"$WORK/vigil.breakdown"
    kill -TERM "$pid"
    wait "$pid" 2>/dev/null || true
    local delivered
    delivered=$(grep -c "/$name/metrics" "$WORK/delivered.txt" || true)
    echo "$tool $round $((after - before)) $rss $hwm $delivered" >>"$WORK/results"
    echo "round $round $tool: cpu ticks $((after - before)) over ${DURATION}s, VmRSS ${rss} kB, VmHWM ${hwm} kB, reports delivered $delivered" >&2
}

for round in $(seq 1 "$ROUNDS"); do
    if [ $((round % 2)) -eq 1 ]; then run_one vigil "$round"; run_one psutil "$round"; else run_one psutil "$round"; run_one vigil "$round"; fi
done

echo "vigil agent, resident memory by mapping (last round):"
cat "$WORK/vigil.breakdown"
python3 - "$WORK/results" "$HZ" "$DURATION" "$INTERVAL" <<'PY'
import statistics, sys
path, hz, duration, interval = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
rows = [line.split() for line in open(path)]
def summary(values, fmt):
    return f"{fmt.format(statistics.median(values))} (min {fmt.format(min(values))}, max {fmt.format(max(values))})"
medians = {}
print(f"interval {interval}s, {len(rows) // 2} interleaved rounds, CPU over {duration:.0f}s per round")
for tool in ("vigil", "psutil"):
    mine = [r for r in rows if r[0] == tool]
    cpu = [int(r[2]) / hz / duration * 100 for r in mine]
    rss = [int(r[3]) / 1024 for r in mine]
    hwm = [int(r[4]) / 1024 for r in mine]
    delivered = [int(r[5]) for r in mine]
    medians[tool] = (statistics.median(cpu), statistics.median(rss))
    print(f"{tool:7} CPU % of a core {summary(cpu, '{:.3f}')}; RSS MB {summary(rss, '{:.1f}')}; peak RSS MB {summary(hwm, '{:.1f}')}; reports {delivered}")
vcpu, vrss = medians["vigil"]
pcpu, prss = medians["psutil"]
print(f"goal RSS <= 10 MB: {'met' if vrss <= 10 else 'NOT met'} ({vrss:.1f} MB); CPU <= 0.2 %: {'met' if vcpu <= 0.2 else 'NOT met'} ({vcpu:.3f} %)")
print(f"vigil / psutil: CPU {vcpu / pcpu if pcpu else float('nan'):.2f}, RSS {vrss / prss:.2f}")
PY
