#!/usr/bin/env bash
# Hub and SQLite throughput: samples through `Hub.apply` into the SQLite store (HubBench, release
# build) against Python's sqlite3 writing the same rows with executemany (peer.py), interleaved
# REPEAT times (default 3), each run on a fresh database; prints every run, then the median and
# spread of each and the ratio of the medians.
#
#   bench/hub/run.sh                       DEVICES=100000 SAMPLES=3 ROUNDS=5 (1,500,000 samples)
#   DEVICES=10000 ROUNDS=20 REPEAT=5 bench/hub/run.sh
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DEVICES=${DEVICES:-100000}
SAMPLES=${SAMPLES:-3}
ROUNDS=${ROUNDS:-5}
REPEAT=${REPEAT:-3}
WORK=$(mktemp -d /tmp/vigil-hub-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

echo "Building the benchmark (release)..." >&2
swift build -c release --package-path "$HERE" --product HubBench >&2
BIN="$(swift build -c release --package-path "$HERE" --show-bin-path)/HubBench"

echo "uptime: $(uptime)" >&2
for i in $(seq 1 "$REPEAT"); do
  rm -f "$WORK"/*.sqlite*
  "$BIN" run "$WORK/vigil.sqlite" "$DEVICES" "$SAMPLES" "$ROUNDS" | tee -a "$WORK/results.jsonl"
  "$BIN" schema "$WORK/peer.sqlite"
  python3 "$HERE/peer.py" "$WORK/peer.sqlite" "$DEVICES" "$SAMPLES" "$ROUNDS" | tee -a "$WORK/results.jsonl"
done

python3 - "$WORK/results.jsonl" <<'PY'
import json, statistics, sys
runs = [json.loads(line) for line in open(sys.argv[1])]
by = {}
for r in runs:
    by.setdefault(r["name"], []).append(r)
print(f"\n{runs[0]['samples']:,} samples per run, {len(by['vigil'])} interleaved runs each")
print("| writer | samples/s median (min-max) | CPU us/sample median (min-max) |")
print("|---|---:|---:|")
med = {}
for name, rs in by.items():
    rate = [r["samples_per_second"] for r in rs]
    cpu = [r["cpu_us_per_sample"] for r in rs]
    med[name] = (statistics.median(rate), statistics.median(cpu))
    print(f"| {name} | {med[name][0]:,.0f} ({min(rate):,.0f}-{max(rate):,.0f}) | "
          f"{med[name][1]:.2f} ({min(cpu):.2f}-{max(cpu):.2f}) |")
v, p = med["vigil"], med["python-sqlite3"]
print(f"\nvigil / python-sqlite3: {v[0] / p[0]:.2f}x the rate, {v[1] / p[1]:.2f}x the CPU per sample")
PY
