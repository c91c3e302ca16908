#!/usr/bin/env bash
# Live-feed benchmark: 1,000 WebSocket clients on /api/v1/live, 100 changes per second, against
# Vigil and against a named peer in the same run.
#
# Builds bench/live (release). For each server in SERVERS (default "vigil peer"):
#   vigil  `vigil-live-bench server`: Vigil's hub (in-memory store) and web application exactly as
#          `vigil serve` builds them (buildWebApplication), plus a generator that flips the status of
#          one of TARGETS stream targets RATE times per second through the hub.
#   peer   `vigil-live-bench peer`: the idiomatic Hummingbird WebSocket broadcast (an AsyncStream per
#          client, one `outbound.write` per message), same messages and schedule, no hub.
# Then `vigil-live-bench clients` (a second process, a minimal SwiftNIO WebSocket client) opens
# CLIENTS connections, waits for all of them plus WARMUP seconds, and for DURATION seconds measures,
# for every state message each client receives, the delay from the change (its wall-clock time
# travels in the message) to its arrival. Meanwhile this script reads both processes' CPU time and
# the server's memory from /proc. Last, it prints Vigil's figures relative to the peer's.
#
# Usage: bench/live/run.sh                         (CLIENTS=1000 RATE=100 DURATION=30)
#        CLIENTS=200 DURATION=10 SERVERS=vigil bench/live/run.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

CLIENTS=${CLIENTS:-1000}
RATE=${RATE:-100}
TARGETS=${TARGETS:-100}
WARMUP=${WARMUP:-5}
DURATION=${DURATION:-30}
SERVERS=${SERVERS:-vigil peer}
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

swift build -c release --product vigil-live-bench >/dev/null
BIN=$(swift build -c release --show-bin-path)/vigil-live-bench

WORK=$(mktemp -d /tmp/vigil-live-bench.XXXXXX)
SERVER_PID=""
CLIENTS_PID=""
stop() {
    if [ -n "$CLIENTS_PID" ]; then kill "$CLIENTS_PID" 2>/dev/null || true; wait "$CLIENTS_PID" 2>/dev/null || true; fi
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
    CLIENTS_PID=""
    SERVER_PID=""
}
trap 'stop; rm -rf "$WORK"' EXIT

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)

# measure NAME MODE: runs one server and the clients against it; writes $WORK/NAME.result.
measure() {
    local name=$1 mode=$2
    local port
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
    "$BIN" "$mode" --port "$port" --rate "$RATE" --targets "$TARGETS" >"$WORK/$name.server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        grep -q "listening" "$WORK/$name.server.log" 2>/dev/null && break
        sleep 0.1
    done
    grep -q "listening" "$WORK/$name.server.log" || { echo "run.sh: $name server did not start" >&2; cat "$WORK/$name.server.log" >&2; exit 1; }

    "$BIN" clients --url "ws://127.0.0.1:$port/api/v1/live" --clients "$CLIENTS" --warmup "$WARMUP" --duration "$DURATION" \
        >"$WORK/$name.clients.log" 2>&1 &
    CLIENTS_PID=$!
    for _ in $(seq 1 1200); do
        grep -q "MEASURE_START" "$WORK/$name.clients.log" 2>/dev/null && break
        kill -0 "$CLIENTS_PID" 2>/dev/null || break
        sleep 0.1
    done
    grep -q "MEASURE_START" "$WORK/$name.clients.log" || { echo "run.sh: clients did not start measuring" >&2; cat "$WORK/$name.clients.log" >&2; exit 1; }

    local cpu0 ccpu0 rss0 t0 cpu1 ccpu1 rss1 hwm t1
    cpu0=$(ticks "$SERVER_PID"); ccpu0=$(ticks "$CLIENTS_PID")
    rss0=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
    t0=$(date +%s.%N)
    sleep "$DURATION"
    cpu1=$(ticks "$SERVER_PID"); ccpu1=$(ticks "$CLIENTS_PID")
    rss1=$(awk '/VmRSS/ {print $2}' "/proc/$SERVER_PID/status")
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$SERVER_PID/status")
    t1=$(date +%s.%N)
    wait "$CLIENTS_PID" || true
    CLIENTS_PID=""
    stop

    echo "== $name: $CLIENTS clients, $RATE changes/s over $TARGETS targets, ${DURATION}s measured ($(nproc) cores)"
    grep -v MEASURE_START "$WORK/$name.clients.log"
    python3 - "$cpu0" "$cpu1" "$ccpu0" "$ccpu1" "$HZ" "$t0" "$t1" "$rss0" "$rss1" "$hwm" "$WORK/$name.clients.log" \
        "$WORK/$name.result" <<'PY'
import re, sys
cpu0, cpu1, ccpu0, ccpu1, hz, t0, t1, rss0, rss1, hwm, log, out = sys.argv[1:]
seconds = float(t1) - float(t0)
server = (int(cpu1) - int(cpu0)) / int(hz) / seconds * 100
client = (int(ccpu1) - int(ccpu0)) / int(hz) / seconds * 100
print(f"server cpu {server:.0f}% of one core; rss {int(rss0)/1024:.1f} MiB at start of measurement, "
      f"{int(rss1)/1024:.1f} MiB at end, peak {int(hwm)/1024:.1f} MiB; client process cpu {client:.0f}%")
text = open(log).read()
messages = int(re.search(r"messages (\d+)", text).group(1))
p = dict(re.findall(r"(p50|p99) ([0-9.na]+)", text))
open(out, "w").write(f"{messages} {p.get('p50', 'nan')} {p.get('p99', 'nan')} {server:.1f}\n")
PY
}

for server in $SERVERS; do
    case $server in
        vigil) measure vigil server ;;
        peer) measure peer peer ;;
        *) echo "run.sh: unknown server $server (vigil or peer)" >&2; exit 2 ;;
    esac
done

if [ -f "$WORK/vigil.result" ] && [ -f "$WORK/peer.result" ]; then
    python3 - "$WORK/vigil.result" "$WORK/peer.result" "$((CLIENTS * RATE * DURATION))" "$DURATION" <<'PY'
import sys
vigil = open(sys.argv[1]).read().split()
peer = open(sys.argv[2]).read().split()
expected = int(sys.argv[3])
def ratio(a, b):
    a, b = float(a), float(b)
    return f"{a / b:.2f}x" if b else "n/a"
print("== vigil relative to the peer (Hummingbird WebSocket broadcast)")
print(f"delivered: vigil {int(vigil[0]):,} / peer {int(peer[0]):,} of {expected:,} messages = {ratio(vigil[0], peer[0])}")
seconds = float(sys.argv[4])
def micros(result):
    return float(result[3]) / 100 * seconds / int(result[0]) * 1e6 if int(result[0]) else float("nan")
print(f"server cpu per delivered message: vigil {micros(vigil):.1f} us / peer {micros(peer):.1f} us = {ratio(micros(vigil), micros(peer))}")
print(f"p50 latency: vigil {vigil[1]} ms / peer {peer[1]} ms   p99 latency: vigil {vigil[2]} ms / peer {peer[2]} ms"
      + ("" if int(peer[0]) >= expected * 0.99 else "   (the peer's latencies cover only the messages it delivered)"))
PY
fi
