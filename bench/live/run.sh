#!/usr/bin/env bash
# Live-feed benchmark: 1,000 WebSocket clients on /api/v1/live, 100 changes per second.
#
# Builds bench/live (release) and starts `vigil-live-bench server`: Vigil's hub and web application
# as `vigil serve` builds them (buildWebApplication), with an in-memory store and a generator that
# flips the status of one of TARGETS stream targets RATE times per second. Then
# `vigil-live-bench clients` opens CLIENTS WebSocket connections (in a second process), waits for all
# of them plus WARMUP seconds, and for DURATION seconds measures, for every state message each client
# receives, the delay from the change (its wall-clock time travels in the message) to its arrival.
# Meanwhile this script reads the server's CPU time and memory from /proc.
#
# Usage: bench/live/run.sh                         (CLIENTS=1000 RATE=100 DURATION=30)
#        CLIENTS=200 DURATION=10 bench/live/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

CLIENTS=${CLIENTS:-1000}
RATE=${RATE:-100}
TARGETS=${TARGETS:-100}
WARMUP=${WARMUP:-5}
DURATION=${DURATION:-30}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

swift build -c release --product vigil-live-bench >/dev/null
BIN=$(swift build -c release --show-bin-path)/vigil-live-bench

WORK=$(mktemp -d /tmp/vigil-live-bench.XXXXXX)
SERVER_PID=""
CLIENTS_PID=""
cleanup() {
    [ -n "$CLIENTS_PID" ] && kill "$CLIENTS_PID" 2>/dev/null && wait "$CLIENTS_PID" 2>/dev/null
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
"$BIN" server --port "$PORT" --rate "$RATE" --targets "$TARGETS" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    grep -q "listening" "$WORK/server.log" 2>/dev/null && break
    sleep 0.1
done
grep -q "listening" "$WORK/server.log" || { echo "run.sh: server did not start" >&2; cat "$WORK/server.log" >&2; exit 1; }

"$BIN" clients --url "ws://127.0.0.1:$PORT/api/v1/live" --clients "$CLIENTS" --warmup "$WARMUP" --duration "$DURATION" \
    >"$WORK/clients.log" 2>&1 &
CLIENTS_PID=$!
for _ in $(seq 1 1200); do
    grep -q "MEASURE_START" "$WORK/clients.log" 2>/dev/null && break
    kill -0 "$CLIENTS_PID" 2>/dev/null || break
    sleep 0.1
done
grep -q "MEASURE_START" "$WORK/clients.log" || { echo "run.sh: clients did not start measuring" >&2; cat "$WORK/clients.log" >&2; exit 1; }

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
CPU_START=$(ticks "$SERVER_PID")
RSS_START=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
START=$(date +%s.%N)
wait "$CLIENTS_PID"
CLIENTS_PID=""
END=$(date +%s.%N)
CPU_END=$(ticks "$SERVER_PID")
RSS_END=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")

echo "== live feed: $CLIENTS clients, $RATE changes/s over $TARGETS targets, ${DURATION}s measured ($(nproc) cores)"
grep -v MEASURE_START "$WORK/clients.log"
python3 - "$CPU_START" "$CPU_END" "$HZ" "$START" "$END" "$RSS_START" "$RSS_END" "$HWM" <<'PY'
import sys
cpu0, cpu1, hz, t0, t1, rss0, rss1, hwm = sys.argv[1:]
cpu = (int(cpu1) - int(cpu0)) / int(hz) / (float(t1) - float(t0)) * 100
print(f"server cpu {cpu:.0f}% of one core; rss {int(rss0)/1024:.1f} MiB at start of measurement, {int(rss1)/1024:.1f} MiB at end, peak {int(hwm)/1024:.1f} MiB")
PY
