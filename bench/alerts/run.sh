#!/usr/bin/env bash
# Alert evaluation benchmark: RULES threshold rules over TARGETS × SAMPLES series, evaluated every
# 10 s, in Vigil and in Prometheus (the peer: the rule engine sites use when they alert on metrics).
#
# Vigil: `vigil-alerts-bench vigil` fills a hub with the series and runs ROUNDS alerting rounds as
# the alerting service does (the hub's states, evaluation, the book's update, what a receiver is
# due); it prints the median CPU seconds of a round.
# Prometheus: Debian's prometheus scrapes the same series (as text from a local HTTP server) every
# 10 s and evaluates the same rules as one group every 10 s; its own
# prometheus_rule_group_last_duration_seconds is the time of one evaluation.
# The two are sampled in turn, RUNS times. The share of a core is (seconds per round) / 10 s. For
# Prometheus the script also reports its whole CPU share (process_cpu_seconds_total over the runs,
# scraping and storage included), since its rule duration is wall time.
# BOUNDS (default 2000) sets how many alerts fire: about 10,000 with the default, 100 with 20.
#
# Usage: bench/alerts/run.sh         (TARGETS=10000 SAMPLES=10 RULES=1000 RUNS=3 ROUNDS=5 BOUNDS=2000)
set -euo pipefail
cd "$(dirname "$0")/../.."

TARGETS=${TARGETS:-10000}
SAMPLES=${SAMPLES:-10}
RULES=${RULES:-1000}
RUNS=${RUNS:-3}
ROUNDS=${ROUNDS:-5}
export BOUNDS=${BOUNDS:-2000}
PROMETHEUS=${PROMETHEUS:-$(command -v prometheus || echo /usr/bin/prometheus)}

swift build -c release --product vigil-alerts-bench >/dev/null
BIN=$(swift build -c release --show-bin-path)/vigil-alerts-bench

WORK=$(mktemp -d /tmp/vigil-alerts-bench.XXXXXX)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
mkdir -p "$WORK/www"
"$BIN" metrics "$TARGETS" "$SAMPLES" >"$WORK/www/metrics"
"$BIN" rules "$RULES" "$SAMPLES" >"$WORK/rules.yml"
HTTP_PORT=$(free_port)
PROM_PORT=$(free_port)
(cd "$WORK/www" && exec python3 -m http.server "$HTTP_PORT" --bind 127.0.0.1 >/dev/null 2>&1) &
PIDS+=($!)
cat >"$WORK/prometheus.yml" <<YAML
global:
  scrape_interval: 10s
  evaluation_interval: 10s
rule_files: ["$WORK/rules.yml"]
scrape_configs:
  - job_name: fleet
    honor_labels: true
    static_configs:
      - targets: ["127.0.0.1:$HTTP_PORT"]
YAML
"$PROMETHEUS" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/data" \
    --web.listen-address="127.0.0.1:$PROM_PORT" >"$WORK/prometheus.log" 2>&1 &
PIDS+=($!)

# Prometheus's duration of its last evaluation of the bench group, once it has data to work on.
prometheus_round() {
    local last=${1:-} value
    for _ in $(seq 1 150); do
        value=$(curl -fsS "http://127.0.0.1:$PROM_PORT/metrics" 2>/dev/null \
            | awk '/^prometheus_rule_group_last_duration_seconds\{.*bench"\}/ {print $2}')
        if [ -n "$value" ] && [ "$value" != "0" ] && [ "$value" != "$last" ]; then echo "$value"; return; fi
        sleep 1
    done
    echo "prometheus did not evaluate the rules; log:" >&2
    tail -20 "$WORK/prometheus.log" >&2
    exit 1
}

prometheus_cpu() { curl -fsS "http://127.0.0.1:$PROM_PORT/metrics" | awk '/^process_cpu_seconds_total/ {print $2}'; }

echo "alerts bench: BOUNDS=$BOUNDS, $RULES rules over $((TARGETS * SAMPLES)) series ($TARGETS targets x $SAMPLES samples), $RUNS runs, load: $(cut -d' ' -f1-3 /proc/loadavg)"
# The first evaluation after the first scrape warms Prometheus up; wait for a second one.
previous=$(prometheus_round)
previous=$(prometheus_round "$previous")
vigil=() peer=()
cpu_start=$(prometheus_cpu)
time_start=$(date +%s.%N)
for run in $(seq 1 "$RUNS"); do
    line=$("$BIN" vigil "$TARGETS" "$SAMPLES" "$RULES" "$ROUNDS")
    echo "run $run: $line"
    vigil+=("$(sed -E 's/.*round_cpu_seconds=([0-9.]+).*/\1/' <<<"$line")")
    previous=$(prometheus_round "$previous")
    echo "run $run: prometheus rule_group_last_duration_seconds=$previous"
    peer+=("$previous")
done
cpu_end=$(prometheus_cpu)
time_end=$(date +%s.%N)
python3 - "${vigil[*]}" "${peer[*]}" "$cpu_start" "$cpu_end" "$time_start" "$time_end" <<'PY'
import statistics, sys
vigil = [float(x) for x in sys.argv[1].split()]
peer = [float(x) for x in sys.argv[2].split()]
cpu_start, cpu_end, time_start, time_end = (float(x) for x in sys.argv[3:7])
mv, mp = statistics.median(vigil), statistics.median(peer)
print(f"vigil      round {mv:.4f} s (spread {min(vigil):.4f}-{max(vigil):.4f}) = {mv / 10 * 100:.2f} % of a core at a 10 s interval")
print(f"prometheus round {mp:.4f} s (spread {min(peer):.4f}-{max(peer):.4f}) = {mp / 10 * 100:.2f} % of a core at a 10 s interval")
print(f"prometheus process CPU over the runs: {(cpu_end - cpu_start) / (time_end - time_start) * 100:.1f} % of a core (scrapes and storage included)")
print(f"ratio vigil/prometheus (round): {mv / mp:.4f}")
PY
