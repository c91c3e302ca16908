#!/usr/bin/env bash
# Secrets never leave Vigil: a configuration full of distinct secret strings (passwords in broker,
# Redis and HTTP URLs, [mqtt] password, [http] token, Janus admin_key, component secret, MySQL,
# Redis and Kafka SASL passwords, an agent's own variables) is run through `vigil config check` (valid and broken
# variants) and `vigil serve` at log level trace for a few seconds while the API is read; every
# output is searched for every secret: 0 occurrences expected.
#
# Uses the services scripts/test started when their variables are set (MOSQUITTO_PORT, REDIS_PORT,
# MARIADB_PORT, PROSODY_COMPONENT_PORT); otherwise points at closed ports, so connection errors
# are exercised instead. Runs in well under a minute.
set -uo pipefail
cd "$(dirname "$0")/../.."
binary=${VIGIL_BINARY:-.build/debug/vigil}
work=$(mktemp -d /tmp/vigil-secrets.XXXXXX)
passed=0
failed=0
vigil_pid=
cleanup() {
  if [ -n "$vigil_pid" ]; then kill -9 "$vigil_pid" 2>/dev/null; wait "$vigil_pid" 2>/dev/null; fi
  # Agents run detached in their own session: stop ours by its marker.
  for pid in $(pgrep -f "IOTMONITORMAGIC_secretagent$tag;" || true); do kill -9 -- "-$pid" "$pid" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

pass() { passed=$((passed + 1)); echo "ok: $1"; }
fail() { failed=$((failed + 1)); echo "FAIL: $1"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

tag=$(head -c 6 /dev/urandom | od -An -tx1 | tr -d ' \n')
# Every secret is distinct and unlikely anywhere else.
secrets=(
  "MqttUrlPw$tag" "MqttUrlUser$tag" "MqttPw$tag" "HttpToken$tag" "JanusUrlPw$tag" "JanusPw$tag" "AdminKey$tag"
  "CompSecret$tag" "MysqlPw$tag" "RedisPw$tag" "MtxUrlPw$tag" "MtxPw$tag" "VisUrlPw$tag" "AgentEnv$tag"
  "EnvToken$tag" "KafkaPw$tag"
)
mqtt_port=${MOSQUITTO_PORT:-1}
redis_port=${REDIS_PORT:-2}
mysql_port=${MARIADB_PORT:-3}
xmpp_port=${PROSODY_COMPONENT_PORT:-${EJABBERD_COMPONENT_PORT:-4}}
http_port=$(free_port)
announce_port=$(free_port)

cat > "$work/vigil.toml" <<EOF
rest_api_port = "127.0.0.1:$announce_port"

[log]
log_level = "trace"

[http]
listen = "127.0.0.1:$http_port"
token = "HttpToken$tag"

[store]
path = "$work/vigil.sqlite"

[mqtt]
serverAddress = "tcp://MqttUrlUser$tag:MqttUrlPw$tag@127.0.0.1:$mqtt_port"
user = "secretuser"
password = "MqttPw$tag"
baseTopic = "vigil-secrets-$tag/mon"
clientid = "vigil-secrets-$tag"

[watchdog]
agent_log_directory = "$work/agents"

[device_d1]
watchTimeOut = 1
watchTopics = "vigil-secrets-$tag/d1/#"
stateTopics = "vigil-secrets-$tag/d1/state/#"

[agent_secretagent$tag]
exec = "sleep 30"
environment = { AGENT_TOKEN = "AgentEnv$tag" }

[janus]
broker_url = "mqtt://janususer:JanusUrlPw$tag@127.0.0.1:$mqtt_port"
password = "JanusPw$tag"
admin_key = "AdminKey$tag"
available_servers = "gw1"
admin_urls = "gw1=http://127.0.0.1:5"

[[mediamtx.instances]]
name = "m1"
url = "http://mtxuser:MtxUrlPw$tag@127.0.0.1:6"
user = "mtx"
password = "MtxPw$tag"

[visionaire]
api_base_urls = "http://visuser:VisUrlPw$tag@127.0.0.1:7"

[component]
name = "announcer.example.test"
secret = "CompSecret$tag"
domain = "example.test"

[ejabberd]
cluster_nodes = "127.0.0.1:$xmpp_port"

[mysql]
address = "127.0.0.1:$mysql_port"
username = "vigil"
password = "MysqlPw$tag"
db = "vigil"

[user-activity-redis]
cluster_nodes = "127.0.0.1:$redis_port"
password = "RedisPw$tag"

[kafka-producer]
brokers = "127.0.0.1:4"
topics = ["vigil-secrets-archive"]
sasl_mechanism = "SCRAM-SHA-256"
sasl_username = "vigil"
sasl_password = "KafkaPw$tag"
EOF

# Counts the secrets found in a file; prints them.
leaks() {
  local file=$1 count=0 secret
  for secret in "${secrets[@]}"; do
    if grep -q -F -- "$secret" "$file"; then
      echo "  '$secret' appears in $(basename "$file"):" >&2
      grep -F -- "$secret" "$file" | head -3 | cut -c1-300 >&2
      count=$((count + 1))
    fi
  done
  echo "$count"
}

check_clean() {
  local what=$1 file=$2 found
  found=$(leaks "$file")
  if [ "$found" = 0 ]; then pass "$what: 0 secrets in $(wc -c < "$file") bytes"; else fail "$what: $found secrets leaked"; fi
}

# 1. config check on the valid file.
"$binary" config check "$work/vigil.toml" > "$work/check.out" 2>&1
status=$?
if [ $status = 0 ]; then pass "config check exits 0"; else fail "config check exits $status: $(head -c 500 "$work/check.out")"; fi
check_clean "config check output" "$work/check.out"

# 2. config check on broken variants: the error names the key, never the secret.
variant() {
  local name=$1 from=$2 to=$3
  python3 - "$work/vigil.toml" "$work/$name.toml" "$from" "$to" <<'PY'
import sys
text = open(sys.argv[1]).read()
assert sys.argv[3] in text, sys.argv[3]
open(sys.argv[2], "w").write(text.replace(sys.argv[3], sys.argv[4], 1))
PY
  "$binary" config check "$work/$name.toml" > "$work/$name.out" 2>&1
  status=$?
  if [ $status = 2 ]; then pass "broken $name: exit 2 ($(head -c 200 "$work/$name.out" | tr '\n' ' '))"; else fail "broken $name: exit $status"; fi
  check_clean "broken $name output" "$work/$name.out"
}
variant mqtt-port "@127.0.0.1:$mqtt_port\"
user" "@127.0.0.1:99999\"
user"
variant mqtt-scheme "serverAddress = \"tcp://" "serverAddress = \"ftp://"
variant janus-url "mqtt://janususer:JanusUrlPw$tag@127.0.0.1:$mqtt_port" "mqtt://janususer:JanusUrlPw$tag@127.0.0.1:0"
variant mediamtx-url "http://mtxuser:" "ftp://mtxuser:"
variant visionaire-url "http://visuser:" "ftp://visuser:"
variant admin-urls "gw1=http://127.0.0.1:5" "gw1=ftp://u:AdminKey$tag@127.0.0.1:5"
variant duration "watchTimeOut = 1" "watchTimeOut = \"1e20\""

# 3. vigil serve at trace level, with a secret in its own environment too, while the API is read.
VIGIL_EJABBERD_TOKEN_UNUSED="EnvToken$tag" "$binary" serve --config "$work/vigil.toml" > "$work/serve.log" 2>&1 &
vigil_pid=$!
healthy=0
for _ in $(seq 1 100); do
  if curl -s -o /dev/null "http://127.0.0.1:$http_port/healthz"; then healthy=1; break; fi
  sleep 0.1
done
if [ $healthy = 1 ]; then pass "vigil serve answers /healthz"; else fail "vigil serve did not start: $(tail -5 "$work/serve.log")"; fi
# Device traffic so state and watchdog paths log too.
if [ "$mqtt_port" != 1 ] && command -v mosquitto_pub > /dev/null; then
  mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -t "vigil-secrets-$tag/d1/state/x" -m on -q 1 || true
fi
sleep 4
: > "$work/api.out"
for path in /api/v1/targets /api/v1/devices /api/v1/agents /api/v1/gateways /api/v1/streams /api/v1/events /api/v1/status /metrics /readyz; do
  curl -s -H "Authorization: Bearer HttpToken$tag" "http://127.0.0.1:$http_port$path" >> "$work/api.out"
  echo >> "$work/api.out"
done
# A wrong token is refused without echoing the right one.
curl -s -H "Authorization: Bearer wrong" "http://127.0.0.1:$http_port/api/v1/targets" >> "$work/api.out"
curl -s -X POST -H 'Content-Type: application/json' -d '{"users":["a"],"message":"x"}' "http://127.0.0.1:$announce_port/v1/announce/users" >> "$work/api.out"
sleep 1
kill -TERM "$vigil_pid" 2>/dev/null
for _ in $(seq 1 100); do kill -0 "$vigil_pid" 2>/dev/null || break; sleep 0.1; done
kill -9 "$vigil_pid" 2>/dev/null
wait "$vigil_pid" 2>/dev/null
vigil_pid=
if [ -s "$work/api.out" ]; then pass "API answered ($(wc -c < "$work/api.out") bytes)"; else fail "API answered nothing"; fi
check_clean "API output" "$work/api.out"
check_clean "vigil serve log ($(wc -l < "$work/serve.log") lines at trace)" "$work/serve.log"
if ls "$work"/agents/*.log > /dev/null 2>&1; then cat "$work"/agents/*.log > "$work/agent.out"; check_clean "agent log" "$work/agent.out"; fi

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
