#!/usr/bin/env bash
# Takes the README's dashboard screenshot (docs/dashboard.png) of a populated fleet, from real
# processes on 127.0.0.1 only:
#
#   - Mosquitto (scripts/services/mosquitto.sh) and four real Janus gateways on it
#     (scripts/services/janus.sh): primaries gxy1 and gxy2, spares gxy12 and gxy13, sessions
#     created over the Janus MQTT API; gxy1 is stopped half-way, so gxy12 takes over (failover);
#   - the stream simulators (`vigil-streams-bench demo`): a MediaMTX instance with SRT paths and
#     two Visionaire sites, one camera down;
#   - devices publishing with mosquitto_pub (one falls silent and expires), two agents (one exits
#     every 20 s and is restarted), and the host sampler;
#   - the dashboard in Debian's headless Chromium (Selenium, as Tests/browser/), history charts of
#     a stream, the whole page captured.
#
#   scripts/dashboard-screenshot.sh [OUT.png]     (default docs/dashboard.png; about 2 minutes)
#
# Needs the packages of scripts/services/{mosquitto,janus,browser}.sh and a built `vigil`
# (this script builds vigil and vigil-streams-bench in debug if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=${1:-docs/dashboard.png}
case $out in /*) ;; *) out="$root/$out" ;; esac

work=$(mktemp -d /tmp/vigil-screenshot.XXXXXX)
pids=()
cleanup() {
  local status=$?
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  # Vigil's agents run detached in their own sessions: each wrote its process group ID at start.
  if [ -f "$work/agents.pgid" ]; then
    while read -r pgid; do kill -- "-$pgid" 2>/dev/null || true; done <"$work/agents.pgid"
  fi
  if [ "$(type -t mosquitto_stop)" = function ]; then mosquitto_stop || true; fi
  if [ $status -ne 0 ]; then echo "dashboard-screenshot: failed; logs in $work" >&2; else rm -rf "$work"; fi
  exit $status
}
trap cleanup EXIT INT TERM

swift build --product vigil >"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
swift build --product vigil-streams-bench >>"$work/build.log" 2>&1 || { cat "$work/build.log" >&2; exit 1; }
bin=$(swift build --show-bin-path)

# shellcheck source=/dev/null
source scripts/services/mosquitto.sh
# shellcheck source=/dev/null
source scripts/services/janus.sh
# shellcheck source=/dev/null
source scripts/services/browser.sh
mkdir -p "$work/mosquitto" "$work/janus" "$work/browser"
mosquitto_start "$work/mosquitto"
janus_start "$work/janus"
browser_start "$work/browser"
broker="tcp://$MOSQUITTO_HOST:$MOSQUITTO_PORT"

# The stream simulators.
"$bin/vigil-streams-bench" demo --seconds 900 >"$work/streams.out" 2>"$work/streams.err" &
pids+=($!)
for _ in $(seq 1 200); do grep -q '^VISIONAIRE ' "$work/streams.out" 2>/dev/null && break; sleep 0.05; done
mediamtx=$(sed -n 's/^MEDIAMTX //p' "$work/streams.out")
visionaire=$(sed -n 's/^VISIONAIRE //p' "$work/streams.out")
[ -n "$mediamtx" ] && [ -n "$visionaire" ] || { echo "stream simulators did not start" >&2; cat "$work/streams.err" >&2; exit 1; }

# Four gateways; sessions last 15 minutes (the run is shorter).
for gateway in gxy1 gxy2 gxy12 gxy13; do
  janus_render "$gateway" "$work/janus/$gateway" "$broker" janus
  "$JANUS_BIN" -F "$work/janus/$gateway" -s 900 >"$work/janus/$gateway.log" 2>&1 &
  pids+=($!)
  echo "$!" >"$work/janus/$gateway.pid"
done

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
cat >"$work/vigil.toml" <<EOF
[http]
listen = "127.0.0.1:$port"

[store]
path = "$work/vigil.sqlite"

[host]
interval = "2s"

[mqtt]
serverAddress = "$broker"
baseTopic = "demo/monitoring"

[device_kitchen]
watchTimeOut = 30
watchTopics = "demo/kitchen/#"

[device_porch]
watchTimeOut = 600
watchTopics = "demo/porch/#"

[device_garage]
watchTimeOut = 8
watchTopics = "demo/garage/#"

[device_attic]
watchTimeOut = 60
helloTopic = "demo/attic/hello"
watchTopics = "demo/attic/#"

[agent_recorder]
exec = "echo \$\$ >>$work/agents.pgid; while :; do mosquitto_pub -h $MOSQUITTO_HOST -p $MOSQUITTO_PORT -t demo/recorder/alive -m 1; sleep 3; done"
watchTimeOut = 30
watchTopics = "demo/recorder/#"

[agent_transcoder]
exec = "echo \$\$ >>$work/agents.pgid; sleep 20"

[janus]
broker_url = "$broker"
admin_key = "janusoverlord"
available_servers = ["gxy1", "gxy2"]
failover_servers = ["gxy12", "gxy13"]
failover_wait_time = "3s"
poll_interval = "2s"
stale_threshold = "20s"

[mediamtx]
interval = "2s"

[[mediamtx.instances]]
name = "main"
url = "$mediamtx"

[visionaire]
api_base_urls = $visionaire
update_interval = "5s"
exporter_port = 0
EOF

pushd "$work" >/dev/null
env -u MQTT_BROKER_URL "$bin/vigil" serve --config "$work/vigil.toml" >"$work/vigil.log" 2>&1 &
pids+=($!)
popd >/dev/null

python3 - "$port" "$work" "$out" <<'PY'
import json, os, signal, subprocess, sys, threading, time, urllib.request

port, work, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
host, mqtt_port = os.environ["MOSQUITTO_HOST"], os.environ["MOSQUITTO_PORT"]
url = f"http://127.0.0.1:{port}"


def publish(topic, payload):
    subprocess.run(["mosquitto_pub", "-h", host, "-p", mqtt_port, "-t", topic, "-m", payload], check=True, timeout=10)


def get(path):
    with urllib.request.urlopen(url + path, timeout=2) as response:
        return json.load(response)


deadline = time.time() + 60
while True:
    try:
        urllib.request.urlopen(url + "/readyz", timeout=1)
        break
    except OSError:
        if time.time() > deadline:
            sys.exit("vigil did not become ready")
        time.sleep(0.3)

stop = threading.Event()


def devices():
    tick = 0
    publish("demo/attic/hello", "hello")
    publish("demo/garage/temp", "12.5")  # once: the garage then falls silent and expires
    while not stop.is_set():
        publish("demo/kitchen/temp", f"{21 + tick % 3}")
        if tick % 3 == 0:
            publish("demo/porch/motion", "0")
            publish("demo/attic/humidity", "48")
        tick += 1
        stop.wait(2)


def sessions(gateway, count):
    for n in range(count):
        publish(f"janus/{gateway}/to-janus", json.dumps({"janus": "create", "transaction": f"demo-{gateway}-{n}-{time.time()}"}))


threading.Thread(target=devices, daemon=True).start()
start = time.time()
for second in range(0, 95, 5):
    time.sleep(max(0, start + second - time.time()))
    if second == 5:
        sessions("gxy1", 4); sessions("gxy2", 6)
    elif second < 30:
        sessions("gxy1" if second % 10 else "gxy2", 2)
    elif second == 30:
        # gxy1 goes away; after failover_wait_time its spare gxy12 takes over.
        os.kill(int(open(f"{work}/janus/gxy1.pid").read()), signal.SIGTERM)
    elif second > 35:
        sessions("gxy12" if second % 10 else "gxy2", 3 if second % 10 else 1)

print("gateways:", json.dumps(get("/api/v1/gateways"))[:800])

os.environ.setdefault("SE_OFFLINE", "true")
from selenium import webdriver
from selenium.webdriver.chrome.service import Service

options = webdriver.ChromeOptions()
options.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,1600",
                 "--force-prefers-reduced-motion", "--hide-scrollbars", "--force-color-profile=srgb"):
    options.add_argument(argument)
driver = webdriver.Chrome(service=Service(executable_path=os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")), options=options)
try:
    driver.get(url + "/")
    js = driver.execute_script
    deadline = time.time() + 30
    while not js("return window.vigil && window.vigil.snapshots > 0 && window.vigil.targets.size > 20"):
        if time.time() > deadline:
            sys.exit("the dashboard did not fill")
        time.sleep(0.5)
    # Charts of an SRT path: bitrates, readers and round-trip time, each axis in its unit.
    target = "stream/mediamtx/main/studio-b"
    js("const s = document.getElementById('chart-target'); s.value = arguments[0]; s.dispatchEvent(new Event('change'));", target)
    deadline = time.time() + 30
    while js("return document.querySelectorAll('.chart[data-rendered=\"true\"]').length") < 4:
        if time.time() > deadline:
            sys.exit("charts did not render")
        time.sleep(0.5)
    time.sleep(2)
    height = js("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(height, 3000) + 140)
    time.sleep(1)
    js("window.scrollTo(0, 0)")
    driver.save_screenshot(out)
    print("screenshot:", out, os.path.getsize(out), "bytes; page height", height)
finally:
    stop.set()
    driver.quit()
PY
