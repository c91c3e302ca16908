#!/usr/bin/env bash
# Redis client benchmark: VigilRedis against redis-benchmark (the C tool shipped with Redis), on
# the same private redis-server in the same run.
#
# Both use one connection and pipelines of P requests (send P, wait for the P replies, repeat)
# with 3-byte values, as `redis-benchmark -c 1 -P P -d 3` does; each case runs N requests of SET
# and of GET. Prints requests per second for both and the ratio VigilRedis / redis-benchmark.
#
# Usage: bench/redis/run.sh                         (N=200000, pipelines "1 16 64")
#        N=50000 PIPELINES="16" bench/redis/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
N=${N:-200000}
PIPELINES=${PIPELINES:-"1 16 64"}
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

echo "Redis client benchmark: $(nproc) cores, $("$REDIS" --version | cut -d' ' -f1-3), $N requests per test, 3-byte values, 1 connection"
printf '%-9s %-5s %14s %16s %8s\n' pipeline test "vigil req/s" "redis-bench req/s" ratio
for P in $PIPELINES; do
    "$BIN" --port "$PORT" --requests "$N" --pipeline "$P" --size 3 >"$WORK/vigil.csv"
    redis-benchmark -h 127.0.0.1 -p "$PORT" -c 1 -P "$P" -d 3 -n "$N" -t set,get --csv >"$WORK/c.csv" 2>/dev/null
    python3 - "$P" "$WORK/vigil.csv" "$WORK/c.csv" <<'PY'
import csv, sys
p = sys.argv[1]
vigil = {row[0]: (float(row[1]), int(row[2])) for row in csv.reader(open(sys.argv[2]))}
c = {row[0]: float(row[1]) for row in csv.reader(open(sys.argv[3])) if row and row[0] != "test"}
for test in ("SET", "GET"):
    rate, failures = vigil[test]
    note = f"  ({failures} failed)" if failures else ""
    print(f"{p:<9} {test:<5} {rate:>14,.0f} {c[test]:>16,.0f} {rate / c[test]:>8.3f}{note}")
PY
done
