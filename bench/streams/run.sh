#!/usr/bin/env bash
# Streams polling benchmark: the seed-004 Python exporter against Vigil's Visionaire poller, on the
# same simulated fleet (default 50 hosts x 20 streams, 5 ms latency per request), in one run.
#
#   bench/streams/run.sh [--hosts 50] [--streams 20] [--latency-ms 5] [--cycles 5]
#
# Environment: SEED_FILE (default ../shared/seeds/004_*.txt next to the repository),
# BENCH_VENV (default .build/streams-bench-venv), SWIFT_BUILD_FLAGS, VIGIL_STREAMS_BENCH_BIN (skip the build).
# The Python exporter is extracted from the seed document at run time and never stored in the
# repository; prometheus-client and requests are installed from PyPI into the venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)

hosts=50 streams=20 latency=5 cycles=5
while [ $# -gt 0 ]; do
  case "$1" in
    --hosts) hosts=$2; shift 2 ;;
    --streams) streams=$2; shift 2 ;;
    --latency-ms) latency=$2; shift 2 ;;
    --cycles) cycles=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done

seed=${SEED_FILE:-$(ls "$root"/../shared/seeds/004_*.txt 2>/dev/null | head -1 || true)}
[ -f "$seed" ] || { echo "run.sh: seed 004 not found; set SEED_FILE" >&2; exit 1; }

work=$(mktemp -d /tmp/vigil-streams-bench.XXXXXX)
sim_pid=""
cleanup() {
  if [ -n "$sim_pid" ]; then exec 3>&-; wait "$sim_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# 1. The seed's exporter: the fenced block after "### stream_monitor.py".
python3 - "$seed" "$work/stream_monitor.py" <<'PY'
import re, sys
text = open(sys.argv[1], encoding="utf-8").read()
match = re.search(r"### stream_monitor\.py\s*```[a-z]*\n(.*?)\n```", text, re.S)
if not match:
    sys.exit("stream_monitor.py block not found in the seed")
open(sys.argv[2], "w", encoding="utf-8").write(match.group(1) + "\n")
PY

# 2. Its requirements.
venv=${BENCH_VENV:-$root/.build/streams-bench-venv}
if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
"$venv/bin/python" -c "import prometheus_client, requests" 2>/dev/null \
  || "$venv/bin/pip" install -q prometheus-client requests

# 3. Vigil's side, release build (or a binary given in VIGIL_STREAMS_BENCH_BIN).
bench=${VIGIL_STREAMS_BENCH_BIN:-}
if [ -z "$bench" ]; then
  swift build -c release --product vigil-streams-bench ${SWIFT_BUILD_FLAGS:-} >"$work/build.log" 2>&1 \
    || { cat "$work/build.log" >&2; exit 1; }
  bench="$(swift build -c release --show-bin-path)/vigil-streams-bench"
fi

# 4. The simulated fleet, in its own process (its CPU is nobody's).
mkfifo "$work/sim.in"
"$bench" simulate --hosts "$hosts" --streams "$streams" --latency-ms "$latency" <"$work/sim.in" >"$work/sim.out" 2>"$work/sim.err" &
sim_pid=$!
exec 3>"$work/sim.in"
for _ in $(seq 1 200); do grep -q '^URLS ' "$work/sim.out" 2>/dev/null && break; sleep 0.05; done
urls=$(sed -n 's/^URLS \[\(.*\)\]$/\1/p' "$work/sim.out" | tr -d '"')
[ -n "$urls" ] || { echo "run.sh: simulator did not start" >&2; cat "$work/sim.err" >&2; exit 1; }

echo "fleet: $hosts hosts x $streams streams, ${latency} ms per request, $cycles measured cycles each"
python_result=$("$venv/bin/python" bench/streams/seed004_driver.py "$work/stream_monitor.py" "$urls" "$cycles")
vigil_result=$("$bench" poll --urls "$urls" --cycles "$cycles")
echo "$python_result"
echo "$vigil_result"
python3 - "$python_result" "$vigil_result" <<'PY'
import json, sys
p, v = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print()
print(f"{'':24}{'seed-004 Python':>18}{'Vigil':>12}{'ratio':>10}")
print(f"{'cycle wall time (s)':24}{p['wall_mean']:>18.3f}{v['wall_mean']:>12.4f}{p['wall_mean'] / v['wall_mean']:>9.1f}x")
print(f"{'CPU time per cycle (s)':24}{p['cpu_mean']:>18.3f}{v['cpu_mean']:>12.4f}{p['cpu_mean'] / max(v['cpu_mean'], 1e-9):>9.1f}x")
PY
