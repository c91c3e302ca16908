#!/usr/bin/env bash
# History on the Redis store against SQLite, same run (issue 15): a fleet's samples through
# `Hub.apply` into each store (HubBench `store`, release build), then QUERIES history reads (what
# GET /api/v1/history calls) of random series. SQLite and Redis runs are interleaved REPEAT times
# (default 3), each on a fresh database / key prefix; Redis is a private redis-server as Debian
# configures it (RDB snapshots, no AOF) on a loopback port. Prints every run, then the median and
# spread of each and the ratio of the medians.
#
#   bench/hub/redis.sh                   DEVICES=10000 SAMPLES=3 ROUNDS=10 QUERIES=200
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DEVICES=${DEVICES:-10000}
SAMPLES=${SAMPLES:-3}
ROUNDS=${ROUNDS:-10}
QUERIES=${QUERIES:-200}
REPEAT=${REPEAT:-3}
REDIS=${REDIS_BIN:-$(command -v redis-server || echo /usr/bin/redis-server)}
WORK=$(mktemp -d /tmp/vigil-hub-redis.XXXXXX)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$REDIS" --port "$PORT" --bind 127.0.0.1 --dir "$WORK" --save "3600 1 300 100 60 10000" --appendonly no --daemonize no \
  >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
trap 'kill $REDIS_PID 2>/dev/null; wait $REDIS_PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 50); do redis-cli -p "$PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done

echo "Building the benchmark (release)..." >&2
swift build -c release --package-path "$HERE" --product HubBench >&2
BIN="$(swift build -c release --package-path "$HERE" --show-bin-path)/HubBench"

echo "uptime: $(uptime)" >&2
for i in $(seq 1 "$REPEAT"); do
  rm -f "$WORK"/*.sqlite*
  "$BIN" store sqlite "$WORK/vigil.sqlite" "$DEVICES" "$SAMPLES" "$ROUNDS" "$QUERIES" | tee -a "$WORK/results.jsonl"
  redis-cli -p "$PORT" flushall >/dev/null
  "$BIN" store redis "redis://127.0.0.1:$PORT" "$DEVICES" "$SAMPLES" "$ROUNDS" "$QUERIES" | tee -a "$WORK/results.jsonl"
done

python3 - "$WORK/results.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
by = {}
for r in runs:
    by.setdefault(r["name"], []).append(r)
first = runs[0]
print(f"\n{first['samples']:,} samples per run ({first['points_per_query']} points per series), {len(by['redis'])} interleaved runs each")
print("| store | samples/s median (min-max) | history p50 ms median (min-max) | history p99 ms median (min-max) |")
print("|---|---:|---:|---:|")
med = {}
for name in ("sqlite", "redis"):
    rs = by[name]
    cells = []
    for key, fmt in (("samples_per_second", "{:,.0f}"), ("history_p50_ms", "{:.2f}"), ("history_p99_ms", "{:.2f}")):
        values = [r[key] for r in rs]
        med[(name, key)] = statistics.median(values)
        cells.append(f"{fmt.format(med[(name, key)])} ({fmt.format(min(values))}-{fmt.format(max(values))})")
    print(f"| {name} | " + " | ".join(cells) + " |")
print(f"\nRedis/SQLite: ingest {med[('redis','samples_per_second')]/med[('sqlite','samples_per_second')]:.2f}x, "
      f"history p50 {med[('redis','history_p50_ms')]/med[('sqlite','history_p50_ms')]:.2f}x the latency")
PY
