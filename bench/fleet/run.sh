#!/usr/bin/env bash
# Fleet start-up and idle cost: `vigil serve` with N configured iotmonitor devices (no traffic),
# against a private Mosquitto. For each N prints the time from exec to "Device watchdog subscribed",
# the RSS then, how long the process stays busy after that (until a second with under 5 % of a core)
# and its RSS then, and the CPU share over 30 s of idling 10 s later.
#
#   bench/fleet/run.sh [N ...]            # default: 1000 10000 100000
#
# Environment: VIGIL_BIN (default: the release build, built if missing), SWIFT_BUILD_FLAGS.
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 100000)

bin=${VIGIL_BIN:-}
if [ -z "$bin" ]; then
  swift build -c release --product vigil ${SWIFT_BUILD_FLAGS:-} >/dev/null
  bin="$(swift build -c release --show-bin-path)/vigil"
fi

work=$(mktemp -d /tmp/vigil-fleet-bench.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" >"$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" >"$work/mosquitto.log" 2>&1 &
broker=$!
vigil=""
cleanup() {
  [ -n "$vigil" ] && kill -9 "$vigil" 2>/dev/null || true
  kill "$broker" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
sleep 0.3
hz=$(getconf CLK_TCK)

printf '%10s %14s %12s %12s %10s %14s %12s\n' devices subscribed_s rss_MB KB_per_dev busy_s settled_rss_MB idle_cpu_%
for n in "${sizes[@]}"; do
  dir="$work/n$n"
  mkdir -p "$dir"
  {
    printf '[mqtt]\nserverAddress="tcp://127.0.0.1:%s"\nbaseTopic="fleet/mon"\n' "$port"
    for i in $(seq 1 "$n"); do printf '[device_d%s]\nwatchTimeOut=600\nwatchTopics="fleet/d%s/#"\n' "$i" "$i"; done
  } >"$dir/config.toml"
  start=$(date +%s.%N)
  VIGIL_HTTP_LISTEN=127.0.0.1:0 VIGIL_STORE_PATH="$dir/vigil.sqlite" "$bin" serve --config "$dir/config.toml" >"$dir/log" 2>&1 &
  vigil=$!
  until grep -q "Device watchdog subscribed" "$dir/log"; do
    kill -0 "$vigil" 2>/dev/null || { cat "$dir/log" >&2; exit 1; }
    sleep 0.02
  done
  elapsed=$(echo "$(date +%s.%N) - $start" | bc)
  rss=$(awk '/VmRSS/{print $2}' "/proc/$vigil/status")
  # The busy phase: seconds after "subscribed" until a whole second passes with under 5 % of a core
  # used (at most 120 s), and the RSS then.
  busy=0
  prev=$(awk '{print $14+$15}' "/proc/$vigil/stat")
  while [ "$busy" -lt 120 ]; do
    sleep 1
    now=$(awk '{print $14+$15}' "/proc/$vigil/stat")
    [ $(( (now - prev) * 100 / hz )) -lt 5 ] && break
    prev=$now
    busy=$((busy + 1))
  done
  settled_rss=$(awk '/VmRSS/{print $2}' "/proc/$vigil/status")
  sleep 10
  t0=$(awk '{print $14+$15}' "/proc/$vigil/stat"); sleep 30; t1=$(awk '{print $14+$15}' "/proc/$vigil/stat")
  printf '%10s %14.2f %12.1f %12.2f %10s %14.1f %12.2f\n' "$n" "$elapsed" "$(echo "$rss/1024" | bc -l)" "$(echo "$rss/$n" | bc -l)" \
    "$busy" "$(echo "$settled_rss/1024" | bc -l)" "$(echo "($t1-$t0)*100/$hz/30" | bc -l)"
  kill -9 "$vigil"; wait "$vigil" 2>/dev/null || true; vigil=""
done
