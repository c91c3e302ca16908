#!/usr/bin/env bash
# The whole binary fed at the broker's pace (issue 14): `vigil serve` with DEVICES configured
# iotmonitor devices (default 100,000) receives ROUNDS rounds of one QoS 0 message per device
# (default 10: 1,000,000 messages), pre-encoded and written by bench/mqtt/publish.py as fast as
# Mosquitto takes them, then the fleet falls silent and every device must expire once, TIMEOUT
# seconds (default 15) after its last message.
#
# Reported per run:
# - sent, received (vigil_mqtt_messages_received_total) and dropped (…_dropped_total): lost is
#   sent minus received;
# - CPU per message of the vigil process while the rounds are delivered (from the first byte sent
#   until the received counter stops moving), and the receive rate (which includes the 2 s pause
#   that shows the earlier rounds were taken before the last one is sent);
# - expiries seen on the broker (non-empty payloads on <base>/expire/#, by mosquitto_sub with
#   nanosecond arrival stamps), how many devices expired twice or never, and expiry lateness:
#   arrival minus deadline, where a device's deadline is TIMEOUT after the moment its last message
#   was written (interpolated over the last round, which is published separately and timed);
# - RSS after subscribing, its peak while fed, and at the end (flat memory: the peak minus the
#   subscribed RSS).
#
# The broker's per-client queue is BROKER_QUEUE messages (default 1,000,000; Mosquitto's default of
# 1,000 drops QoS 0 messages for a subscriber that falls behind, whichever client it is).
#
# The peer is mosquitto_sub (`-t 'fleet/#' -q 1`, output to /dev/null), fed the same rounds from
# a fresh broker, for CPU per message beside the C client. Runs alternate vigil and peer, RUNS
# times (default 3); the summary prints medians and spreads and the CPU ratio.
#
#   bench/fleet/feed.sh                    DEVICES=10000 ROUNDS=20 RUNS=1 bench/fleet/feed.sh
#
# Environment: VIGIL_BIN (default: the release build, built if missing), SWIFT_BUILD_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/../.."
DEVICES=${DEVICES:-100000}
ROUNDS=${ROUNDS:-10}
TIMEOUT=${TIMEOUT:-15}
RUNS=${RUNS:-3}
LAST_ROUND_RATE=${LAST_ROUND_RATE:-50000}
for tool in mosquitto mosquitto_sub python3 bc; do
  command -v "$tool" >/dev/null || { echo "feed.sh: $tool not found (apt-get install mosquitto mosquitto-clients bc)" >&2; exit 1; }
done

bin=${VIGIL_BIN:-}
if [ -z "$bin" ]; then
  swift build -c release --product vigil ${SWIFT_BUILD_FLAGS:-} >/dev/null
  bin="$(swift build -c release --show-bin-path)/vigil"
fi

work=$(mktemp -d /tmp/vigil-feed-bench.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  [ -n "${KEEP_WORK:-}" ] && echo "feed.sh: kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
hz=$(getconf CLK_TCK)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
rss_kb() { awk '/VmRSS/{print $2}' "/proc/$1/status"; }

# One config for every vigil run: devices d0 … d(N-1), as publish.py numbers them.
{
  printf '[mqtt]\nserverAddress="tcp://127.0.0.1:BROKERPORT"\nbaseTopic="fleet/mon"\n'
  for ((i = 0; i < DEVICES; i++)); do printf '[device_d%s]\nwatchTimeOut=%s\nwatchTopics="fleet/d%s/#"\n' "$i" "$TIMEOUT" "$i"; done
} >"$work/config.template"

start_broker() { # $1 dir → sets broker_port, broker_pid
  broker_port=$(free_port)
  # A site with 100,000 devices raises the per-client queue from its default of 1,000 (beyond which
  # Mosquitto drops QoS 0 messages to a subscriber that is behind, for any client).
  printf 'listener %s 127.0.0.1\nallow_anonymous true\nmax_queued_messages %s\n' "$broker_port" "${BROKER_QUEUE:-1000000}" >"$1/mosquitto.conf"
  mosquitto -c "$1/mosquitto.conf" >"$1/mosquitto.log" 2>&1 &
  broker_pid=$!
  pids+=("$broker_pid")
  sleep 0.3
}

metric() { # $1 http port, $2 metric name: the sum over its series
  curl -fsS "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 == m || index($1, m "{") == 1 { s += $2 } END { printf "%d\n", s }'
}

# Publishes ROUNDS-1 rounds in one go, waits until the subscriber has taken them ($2, a counter
# command, stops moving), then the last round on its own (timed: a device's deadline counts from
# its last message, and the broker's backlog of the earlier rounds is not the subscriber's lag),
# paced at LAST_ROUND_RATE messages/s (default 50,000, half of what this machine's broker forwards)
# so that each message's send time is known: written at once, up to a few MB wait in socket buffers
# and the interpolated send times run ahead of the broker.
# Writes $dir/last_round with "start end" of the last round. Topic fleet/d<k>/temp. Each publisher
# has its own client id.
feed() { # $1 dir, $2 counter command
  local dir=$1
  if [ "$ROUNDS" -gt 1 ]; then
    PUBLISH_CLIENT_ID=feed-rounds python3 bench/mqtt/publish.py 127.0.0.1 "$broker_port" 'fleet/d{device}/temp' $(((ROUNDS - 1) * DEVICES)) 0 "$DEVICES" >"$dir/feed1"
    settle "$2" >/dev/null
  fi
  PUBLISH_CLIENT_ID=feed-last PUBLISH_RATE=$LAST_ROUND_RATE python3 bench/mqtt/publish.py 127.0.0.1 "$broker_port" 'fleet/d{device}/temp' "$DEVICES" 0 "$DEVICES" >"$dir/feed2"
  awk -F= '/^start=/{s=$2} /^end=/{e=$2} END {print s, e}' "$dir/feed2" >"$dir/last_round"
  awk -F= '/^start=/{print $2; exit}' "$dir/feed1" "$dir/feed2" >"$dir/first_byte"
}

# Waits until a counter read by $1 (a command) has not moved for 2 s; prints the time it last moved.
settle() {
  local last=-1 value moved=$(date +%s.%N) still=0
  while [ "$still" -lt 20 ]; do
    value=$($1)
    if [ "$value" != "$last" ]; then last=$value; moved=$(date +%s.%N); still=0; else still=$((still + 1)); fi
    sleep 0.1
  done
  echo "$moved"
}

run_vigil() { # $1 run number
  local dir="$work/vigil$1" http_port
  mkdir -p "$dir"
  start_broker "$dir"
  http_port=$(free_port)
  sed "s/BROKERPORT/$broker_port/" "$work/config.template" >"$dir/config.toml"
  mosquitto_sub -h 127.0.0.1 -p "$broker_port" -t 'fleet/mon/expire/#' -q 1 -F '%U %t %l' >"$dir/expiries" &
  pids+=($!)
  local start=$(date +%s.%N)
  VIGIL_HTTP_LISTEN="127.0.0.1:$http_port" VIGIL_STORE_PATH="$dir/vigil.sqlite" "$bin" serve --config "$dir/config.toml" >"$dir/log" 2>&1 &
  local vigil=$!
  pids+=("$vigil")
  until grep -q "Device watchdog subscribed" "$dir/log"; do
    kill -0 "$vigil" 2>/dev/null || { tail -20 "$dir/log" >&2; exit 1; }
    sleep 0.02
  done
  local subscribed=$(echo "$(date +%s.%N) - $start" | bc)
  local rss_subscribed=$(rss_kb "$vigil") peak=0
  ( while kill -0 "$vigil" 2>/dev/null; do rss_kb "$vigil" 2>/dev/null; sleep 0.5; done ) >"$dir/rss" &
  pids+=($!)
  local t0=$(cpu_ticks "$vigil")
  received_counter() { metric "$http_port" vigil_mqtt_messages_received_total; }
  feed "$dir" received_counter
  local moved=$(settle received_counter)
  local t1=$(cpu_ticks "$vigil")
  local received=$(metric "$http_port" vigil_mqtt_messages_received_total)
  local dropped=$(metric "$http_port" vigil_mqtt_messages_dropped_total)
  local first=$(cat "$dir/first_byte")
  # Every device expires TIMEOUT after its last message; wait for the last of them plus 10 s.
  local last_end=$(awk '{print $2}' "$dir/last_round")
  while (($(echo "$(date +%s.%N) < $last_end + $TIMEOUT + 10" | bc))); do sleep 0.5; done
  local rss_end=$(rss_kb "$vigil")
  curl -fsS "http://127.0.0.1:$http_port/metrics" >"$dir/metrics" || true
  kill -TERM "$vigil"; wait "$vigil" 2>/dev/null || true
  peak=$(sort -n "$dir/rss" | tail -1)
  python3 - "$dir" "$DEVICES" "$TIMEOUT" "$first" <<'PY' >"$dir/expiry_stats"
import sys
d, n, timeout, first = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
s, e = map(float, open(d + "/last_round").read().split())
counts, late, early = {}, [], 0
for line in open(d + "/expiries"):
    parts = line.split()
    if len(parts) < 3 or parts[2] == "0":
        continue  # an empty payload clears an expiry (a device coming back)
    t, dev = float(parts[0]), int(parts[1].rsplit("/d", 1)[1])
    counts[dev] = counts.get(dev, 0) + 1
    if t < first:
        early += 1  # expired before the feed reached it (start-up deadline)
        continue
    deadline = s + (e - s) * dev / n + timeout
    late.append(t - deadline)
late.sort()
q = lambda p: late[min(len(late) - 1, int(p * len(late)))] * 1000 if late else float("nan")
twice = sum(1 for c in counts.values() if c > 1)
never = n - len(counts)
print(f"{sum(counts.values())} {twice} {never} {early} {q(0.5):.0f} {q(0.99):.0f} {q(1.0):.0f}")
PY
  read -r expiries twice never early p50 p99 pmax <"$dir/expiry_stats"
  local sent=$((ROUNDS * DEVICES))
  local busy=$(echo "$moved - $first" | bc)
  printf 'vigil %d: subscribed %.2f s; sent %d received %d dropped %d lost %d; %.0f msg/s; CPU %.2f µs/msg; expiries %d (twice %d, never %d, before the feed %d), late p50 %s ms p99 %s ms max %s ms; RSS subscribed %.1f MB, peak %.1f MB, end %.1f MB\n' \
    "$1" "$subscribed" "$sent" "$received" "$dropped" $((sent - received)) "$(echo "$received / $busy" | bc -l)" \
    "$(echo "($t1 - $t0) * 1000000 / $hz / $received" | bc -l)" "$expiries" "$twice" "$never" "$early" "$p50" "$p99" "$pmax" \
    "$(echo "$rss_subscribed / 1024" | bc -l)" "$(echo "$peak / 1024" | bc -l)" "$(echo "$rss_end / 1024" | bc -l)" | tee -a "$work/results"
  kill "$broker_pid" 2>/dev/null || true
}

run_peer() { # $1 run number
  local dir="$work/peer$1"
  mkdir -p "$dir"
  start_broker "$dir"
  mosquitto_sub -h 127.0.0.1 -p "$broker_port" -t 'fleet/#' -q 1 -F '%t' >"$dir/out" &
  local sub=$!
  pids+=("$sub")
  sleep 0.5
  local t0=$(cpu_ticks "$sub")
  lines() { wc -l <"$dir/out"; }
  feed "$dir" lines
  local moved=$(settle lines)
  local t1=$(cpu_ticks "$sub")
  local received=$(lines)
  local first=$(cat "$dir/first_byte")
  local busy=$(echo "$moved - $first" | bc)
  kill "$sub" "$broker_pid" 2>/dev/null || true
  printf 'peer %d: sent %d received %d; %.0f msg/s; CPU %.2f µs/msg\n' "$1" $((ROUNDS * DEVICES)) "$received" \
    "$(echo "$received / $busy" | bc -l)" "$(echo "($t1 - $t0) * 1000000 / $hz / $received" | bc -l)" | tee -a "$work/results"
}

for ((r = 1; r <= RUNS; r++)); do
  if ((r % 2)); then run_vigil "$r"; run_peer "$r"; else run_peer "$r"; run_vigil "$r"; fi
done

python3 - "$work/results" <<'PY'
import re, statistics, sys
rows = open(sys.argv[1]).read().splitlines()
def col(prefix, pattern):
    out = []
    for r in rows:
        if r.startswith(prefix):
            m = re.search(pattern, r)
            if m: out.append(float(m.group(1)))
    return out
def show(name, xs, unit=""):
    if xs: print(f"{name}: median {statistics.median(xs):.2f}{unit} ({min(xs):.2f}–{max(xs):.2f})")
v, p = col("vigil", r"CPU ([\d.]+) µs"), col("peer", r"CPU ([\d.]+) µs")
show("vigil CPU µs/msg", v); show("mosquitto_sub CPU µs/msg", p)
if v and p:
    ratios = [a / b for a, b in zip(v, p)]
    show("ratio vigil / mosquitto_sub", ratios, "×")
show("vigil msg/s", col("vigil", r"; (\d+) msg/s")); show("mosquitto_sub msg/s", col("peer", r"; (\d+) msg/s"))
show("vigil lost", col("vigil", r"lost (-?\d+)"))
show("expiry late p99 ms", col("vigil", r"p99 (-?[\d.]+) ms")); show("expiry late max ms", col("vigil", r"max (-?[\d.]+) ms"))
show("subscribed s", col("vigil", r"subscribed ([\d.]+) s"))
sub, peak = col("vigil", r"RSS subscribed ([\d.]+)"), col("vigil", r"peak ([\d.]+)")
show("RSS growth while fed MB", [b - a for a, b in zip(sub, peak)])
PY
