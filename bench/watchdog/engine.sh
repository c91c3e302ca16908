#!/usr/bin/env bash
# Device watchdog engine microbenchmark (in process, no MQTT; bench/watchdog/run.sh is the end-to-end
# benchmark over MQTT): Vigil's shared deadline engine against one timer task per device, in
# the same run, on the same recorded traffic.
#
# 1. Generates a traffic recording: DEVICES devices (default 100,000) reporting every 1-4 s for
#    DURATION seconds (default 20); one in ten falls silent in the first half and never returns.
# 2. Replays it through each watchdog (each in its own process, so memory is measured cleanly):
#    - messages/s: the whole recording as fast as possible (topic routing + re-arm);
#    - memory: resident bytes per device after arming every device;
#    - expiry lateness: the recording replayed in real time with TIMEOUT (default 5 s) silence,
#      each expiry's firing time minus its deadline (p50, p99, max), and CPU seconds used.
#
# Usage: bench/watchdog/engine.sh            DEVICES=10000 DURATION=10 bench/watchdog/engine.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
DEVICES=${DEVICES:-100000}
DURATION=${DURATION:-20}
TIMEOUT=${TIMEOUT:-5}
WORK=$(mktemp -d /tmp/vigil-watchdog-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

echo "Building the benchmark (release)..." >&2
swift build -c release --package-path "$HERE" --product WatchdogBench >&2
BIN="$(swift build -c release --package-path "$HERE" --show-bin-path)/WatchdogBench"

"$BIN" generate "$WORK/traffic.txt" "$DEVICES" "$DURATION"
echo "Traffic: $(($(wc -l <"$WORK/traffic.txt") - 1)) messages from $DEVICES devices over ${DURATION} s" >&2
"$BIN" engine "$WORK/traffic.txt" "$TIMEOUT" >"$WORK/engine.json"
"$BIN" timers "$WORK/traffic.txt" "$TIMEOUT" >"$WORK/timers.json"

python3 - "$WORK/engine.json" "$WORK/timers.json" <<'PY'
import json, sys
rows = [json.loads(open(path).read()) for path in sys.argv[1:]]
print(f"devices: {rows[0]['devices']:,}, messages: {rows[0]['messages']:,}")
header = ("watchdog", "msgs/s", "RSS B/device", "expiries (expected)", "late p50 ms", "late p99 ms", "late max ms", "replay CPU s")
print("| " + " | ".join(header) + " |")
print("|" + "---|" * len(header))
for r in rows:
    rss = f"{r['rss_bytes_per_device']:.0f}"
    if r['engine_bytes_per_device'] is not None:
        rss += f" (engine {r['engine_bytes_per_device']:.0f})"
    print(f"| {r['name']} | {r['messages_per_second']:,} | {rss} | {r['expiries']:,} ({r['expected_expiries']:,}) | "
          f"{r['lateness_ms_p50']} | {r['lateness_ms_p99']} | {r['lateness_ms_max']} | {r['replay_cpu_seconds']} |")
PY
