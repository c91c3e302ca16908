#!/usr/bin/env bash
# Runs every libFuzzer target (Fuzz/Targets) on its seed corpus for FUZZ_SECONDS (default 30) each,
# two at a time, after building them all (docs/FUZZING.md). A crash, a hang (an input running longer
# than 10 s) or an input needing more than 2 GB fails the target; libFuzzer writes the input under
# .build-fuzz/crashes/TARGET/. Prints "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-30}
targets=${FUZZ_TARGETS:-"mqtt resp mysql xmpp config query kafka leveldb"}
targets=$(echo $targets | tr ' ' '\n')
passed=0
failed=0
logs=$(mktemp -d /tmp/vigil-fuzz.XXXXXX)

# Build one after the other (they share most modules), then run without rebuilding.
for target in $targets; do
  if ! scripts/fuzz "$target" 0 -runs=0 >"$logs/$target.build" 2>&1; then
    echo "FAIL fuzz-$target: build or seed corpus run failed"
    tail -20 "$logs/$target.build"
    failed=$((failed + 1))
    targets=$(echo "$targets" | grep -vx "$target")
  fi
done

run() {
  local target=$1
  if FUZZ_SKIP_BUILD=1 timeout $((seconds + 120)) scripts/fuzz "$target" "$seconds" >"$logs/$target.log" 2>&1; then
    echo "PASS fuzz-$target: $(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$target.log" | grep -o '[0-9]*$') executions in ${seconds} s" >"$logs/$target.result"
  else
    { echo "FAIL fuzz-$target:"; grep -E 'ERROR|SUMMARY|Fatal error|Test unit written|precondition' "$logs/$target.log" | head -10; } >"$logs/$target.result"
  fi
}

set -- $targets
while [ $# -gt 0 ]; do
  run "$1" &
  first=$!
  if [ $# -gt 1 ]; then run "$2" & second=$!; else second=; fi
  wait "$first"; [ -n "$second" ] && wait "$second"
  for target in "$1" ${second:+"$2"}; do
    cat "$logs/$target.result"
    if grep -q '^PASS' "$logs/$target.result"; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  done
  shift; [ $# -gt 0 ] && shift
done
rm -rf "$logs"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
