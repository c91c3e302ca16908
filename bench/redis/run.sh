#!/usr/bin/env bash
# Redis client benchmark: VigilRedis against redis-benchmark (the C tool shipped with Redis), on
# the same private redis-server in the same run.
#
# Both use one connection and pipelines of P requests (send P, wait for the P replies, repeat)
# with 3-byte values, as `redis-benchmark -c 1 -P P -d 3` does; each case runs N requests of SET
# and of GET. The two tools run interleaved, RUNS rounds of every depth (alternating which goes
# first), so both see the same machine state. Prints each run's ratio VigilRedis / redis-benchmark,
# then per depth and test the median ratio with its spread (min–max) and both tools' median rates.
#
# Usage: bench/redis/run.sh                         (N=200000, pipelines "1 16 64", RUNS=3)
#        N=50000 PIPELINES="16" RUNS=5 bench/redis/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
N=${N:-200000}
PIPELINES=${PIPELINES:-"1 16 64"}
RUNS=${RUNS:-3}
REDIS=${REDIS_BIN:-$(command -v redis-server || echo /usr/bin/redis-server)}
for tool in "$REDIS" redis-benchmark python3 swift; do
    command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (apt-get install redis-server)" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/vigil-redis-bench.XXXXXX)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "Building the benchmark (release)..." >&2
swift build -c release --package-path "$HERE" --product RedisBench >&2
BIN="$(swift build -c release --package-path "$HERE" --show-bin-path)/RedisBench"

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$REDIS" --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --dir "$WORK" --logfile "$WORK/redis.log" >"$WORK/redis.out" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    [ "$( (exec 3<>"/dev/tcp/127.0.0.1/$PORT" && printf 'PING\r\n' >&3 && timeout 1 head -c 5 <&3) 2>/dev/null || true)" = "+PONG" ] && break
    sleep 0.05
done

echo "Redis client benchmark: $(nproc) cores, $("$REDIS" --version | cut -d' ' -f1-3), $N requests per test, 3-byte values, 1 connection, $RUNS interleaved runs"
RESULTS="$WORK/results.csv"
: >"$RESULTS"
run_vigil() {
    "$BIN" --port "$PORT" --requests "$N" --pipeline "$1" --size 3 | sed "s/^/$2,$1,vigil,/" >>"$RESULTS"
}
run_c() {
    redis-benchmark -h 127.0.0.1 -p "$PORT" -c 1 -P "$1" -d 3 -n "$N" -t set,get --csv 2>/dev/null |
        grep -v '^"test"' | sed "s/^/$2,$1,c,/" >>"$RESULTS"
}
for run in $(seq 1 "$RUNS"); do
    for P in $PIPELINES; do
        if [ $((run % 2)) -eq 1 ]; then run_vigil "$P" "$run"; run_c "$P" "$run"; else run_c "$P" "$run"; run_vigil "$P" "$run"; fi
    done
done
python3 - "$RESULTS" "$PIPELINES" <<'PY'
import csv, statistics, sys
rows = list(csv.reader(open(sys.argv[1])))
pipelines = sys.argv[2].split()
rate = {}
failed = {}
for row in rows:
    run, p, tool, test, value = row[0], row[1], row[2], row[3], float(row[4])
    rate[(p, test, tool, run)] = value
    if tool == "vigil" and len(row) > 5 and int(row[5]):
        failed[(p, test)] = failed.get((p, test), 0) + int(row[5])
runs = sorted({row[0] for row in rows}, key=int)
print(f"{'pipeline':<9} {'test':<5} " + " ".join(f"{'run ' + r:>7}" for r in runs)
      + f" {'vigil req/s':>12} {'redis-bench req/s':>18} {'ratio median (spread)':>22}")
for p in pipelines:
    for test in ("SET", "GET"):
        ratios = [rate[(p, test, "vigil", r)] / rate[(p, test, "c", r)] for r in runs]
        vigil = statistics.median(rate[(p, test, "vigil", r)] for r in runs)
        c = statistics.median(rate[(p, test, "c", r)] for r in runs)
        note = f"  ({failed[(p, test)]} failed)" if (p, test) in failed else ""
        spread = f"{statistics.median(ratios):.3f} ({min(ratios):.2f}-{max(ratios):.2f})"
        print(f"{p:<9} {test:<5} " + " ".join(f"{x:>7.3f}" for x in ratios)
              + f" {vigil:>12,.0f} {c:>18,.0f} {spread:>22}{note}")
PY
