#!/usr/bin/env bash
# Captures the seed corpora of the fuzz targets from the real servers (docs/FUZZING.md):
#
#   Fuzz/capture.sh            # CLI clients and Fuzz/xmpp_traffic.py only
#   Fuzz/capture.sh --tests    # also Vigil's integration tests (needs `swift build --build-tests`)
#
# Starts Mosquitto, redis-server, MariaDB and Prosody from scripts/services, puts Fuzz/capture.py in
# front of each, drives traffic through the proxies, and replaces Fuzz/Corpus/{mqtt,resp,mysql,xmpp}
# with the captured streams (both directions, one file per connection and direction, named by their
# SHA-1). Fuzz/Corpus/config gets the TOML of Tests/Fixtures and docs/CONFIGURATION.md; the query
# corpus comes from docs/API.md. Run `scripts/fuzz TARGET 0 -merge=1` style minimisation afterwards
# only if the corpus grows large.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work=$(mktemp -d /tmp/vigil-capture.XXXXXX)
with_tests=${1:-}
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

for service in mosquitto redis mariadb prosody; do
  # shellcheck source=/dev/null
  source "scripts/services/$service.sh"
done
proxies=()
cleanup() {
  for pid in "${proxies[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${proxies[@]}"; do wait "$pid" 2>/dev/null || true; done
  prosody_stop >/dev/null 2>&1 || true
  mariadb_stop >/dev/null 2>&1 || true
  redis_stop >/dev/null 2>&1 || true
  mosquitto_stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

mosquitto_start "$work/mosquitto" >/dev/null
redis_start "$work/redis" >/dev/null
mariadb_start "$work/mariadb" >/dev/null
prosody_start "$work/prosody" >/dev/null

# proxy NAME UPSTREAM_PORT -> prints the proxy's port
proxy() {
  local port
  port=$(free_port)
  python3 Fuzz/capture.py "$port" "$2" "$work/raw/$1" >"$work/proxy-$1.log" 2>&1 &
  proxies+=($!)
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  echo "$port"
}
mqtt_port=$(proxy mqtt "$MOSQUITTO_PORT")
redis_port=$(proxy resp "$REDIS_PORT")
mysql_port=$(proxy mysql "$MARIADB_PORT")
c2s_port=$(proxy xmpp "$PROSODY_C2S_PORT")
component_port=$(proxy xmpp-component "$PROSODY_COMPONENT_PORT")

echo "capture: MQTT"
for version in 5 311; do
  timeout 5 mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -V "$version" -q 2 -t 'janus/#' -t 'devices/+/state' -C 6 -v \
    >/dev/null 2>&1 &
  sub=$!
  sleep 0.5
  mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -V "$version" -q 0 -t janus/gw1/status -m '{"online":true}'
  mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -V "$version" -q 1 -r -t devices/d1/state -m 'ON'
  mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -V "$version" -q 2 -t janus/gw2/events -m "$(head -c 3000 /dev/zero | tr '\0' x)"
  if [ "$version" = 5 ]; then
    mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -V 5 -q 1 -t janus/gw1/status -m '{"online":false}' \
      -D publish user-property source vigil -D publish content-type application/json \
      -D publish message-expiry-interval 60 -D publish response-topic janus/gw1/reply
  fi
  mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -V "$version" -q 1 -t devices/d2/state -n
  mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -V "$version" -q 0 -t devices/d1/state -r -n
  wait "$sub" || true
  # Will message, keepalive and a wrong protocol use (publishing to a wildcard is refused).
  timeout 2 mosquitto_sub -h 127.0.0.1 -p "$mqtt_port" -V "$version" -k 5 -t '$SYS/broker/version' -C 1 \
    --will-topic vigil/will --will-payload gone --will-qos 1 >/dev/null 2>&1 || true
  mosquitto_pub -h 127.0.0.1 -p "$mqtt_port" -V "$version" -t 'bad/#' -m x >/dev/null 2>&1 || true
done

echo "capture: RESP"
{
  printf 'HELLO 3\nPING\nSET k v\nGET k\nGET missing\nINCR n\nINCRBYFLOAT f 1.5\nHSET h a 1 b 2\nHGETALL h\n'
  printf 'SADD s x y\nSMEMBERS s\nXADD st * field value\nXADD st * other "with space"\nXRANGE st - +\nXLEN st\n'
  printf 'LPUSH l a b c\nLRANGE l 0 -1\nCONFIG GET maxmemory\nWRONGCOMMAND\nTYPE h\nOBJECT ENCODING h\n'
  printf 'ZADD z 1.5 a 2 b\nZRANGE z 0 -1 WITHSCORES\nDEBUG PROTOCOL bignum\nDEBUG PROTOCOL double\nDEBUG PROTOCOL attrib\n'
  printf 'DEBUG PROTOCOL verbatim\nDEBUG PROTOCOL true\nDEBUG PROTOCOL null\nDEBUG PROTOCOL map\nDEBUG PROTOCOL set\n'
  printf 'CLIENT TRACKING on\nGET k\nSET k w\nCLIENT INFO\nINFO server\n'
} | redis-cli -3 -h 127.0.0.1 -p "$redis_port" >/dev/null 2>&1 || true
printf 'PING\nHGETALL h\nXRANGE st - +\nMGET k missing n\n' | redis-cli -h 127.0.0.1 -p "$redis_port" >/dev/null 2>&1 || true
( timeout 3 redis-cli -3 -h 127.0.0.1 -p "$redis_port" SUBSCRIBE chan >/dev/null 2>&1 & sleep 0.5
  redis-cli -h 127.0.0.1 -p "$redis_port" PUBLISH chan hello >/dev/null
  redis-cli -h 127.0.0.1 -p "$redis_port" PUBLISH chan "$(head -c 2000 /dev/zero | tr '\0' y)" >/dev/null; wait ) || true

echo "capture: MySQL"
mysql_cli() { mariadb --skip-ssl -h 127.0.0.1 -P "$mysql_port" -u "$MARIADB_USER" -p"$MARIADB_PASSWORD" "$@"; }
mysql_cli "$MARIADB_DATABASE" >/dev/null 2>&1 <<'SQL' || true
CREATE TABLE IF NOT EXISTS fuzz_seed (id INT PRIMARY KEY, name VARCHAR(40), score DOUBLE, at DATETIME(3),
  day DATE, t TIME(6), big BIGINT UNSIGNED, raw VARBINARY(16), price DECIMAL(10,2), tiny TINYINT, f FLOAT, y YEAR);
INSERT INTO fuzz_seed VALUES (1, 'alice', 1.5, '2026-12-06 04:05:06.789', '2026-12-06', '-838:59:59.000001',
  18446744073709551615, X'00FF10', 12345678.90, -128, 3.25, 2026), (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT * FROM fuzz_seed;
SELECT 1, 'two', 3.0, NULL, NOW(), CURDATE(), REPEAT('x', 300);
SELECT * FROM no_such_table;
PREPARE s FROM 'SELECT * FROM fuzz_seed WHERE id = ?'; SET @i = 1; EXECUTE s USING @i;
SHOW VARIABLES LIKE 'version%';
DROP TABLE fuzz_seed;
SQL
mariadb --skip-ssl -h 127.0.0.1 -P "$mysql_port" -u "$MARIADB_USER" -pwrong -e 'SELECT 1' >/dev/null 2>&1 || true

echo "capture: XMPP"
# shellcheck disable=SC2086
python3 Fuzz/xmpp_traffic.py 127.0.0.1 "$c2s_port" "$component_port" "$PROSODY_DOMAIN" \
  "$PROSODY_COMPONENT_DOMAIN" "$PROSODY_COMPONENT_SECRET" $PROSODY_USERS || true

if [ "$with_tests" = "--tests" ]; then
  echo "capture: Vigil's integration tests through the proxies"
  MOSQUITTO_PORT=$mqtt_port REDIS_PORT=$redis_port MARIADB_PORT=$mysql_port \
  PROSODY_C2S_PORT=$c2s_port PROSODY_COMPONENT_PORT=$component_port VIGIL_INTEGRATION=1 \
    timeout 300 swift test --skip-build \
      --filter 'MQTTClientIntegration|RedisClientIntegration|MySQLClientIntegration|XMPPIntegration' \
      >"$work/tests.log" 2>&1 || echo "capture: some integration tests failed through the proxy (see $work/tests.log)"
fi

cleanup
trap - EXIT

# Replaces each corpus with the captured streams, one file per connection and direction.
store() {
  local target=$1; shift
  rm -rf "Fuzz/Corpus/$target"; mkdir -p "Fuzz/Corpus/$target"
  for dir in "$@"; do
    [ -d "$work/raw/$dir" ] || continue
    for file in "$work/raw/$dir"/*.bin; do
      [ -e "$file" ] || continue
      cp "$file" "Fuzz/Corpus/$target/$(sha1sum "$file" | cut -c1-40)"
    done
  done
  echo "capture: $target $(ls "Fuzz/Corpus/$target" | wc -l) files, $(du -sk "Fuzz/Corpus/$target" | cut -f1) KiB"
}
store mqtt mqtt
store resp resp
store mysql mysql
store xmpp xmpp xmpp-component
# A client restarts its stream after SASL (a new parser in Vigil): cut the captures there. The XMPP
# fuzz target reads its first byte as a chunk size: prefix each piece with one.
python3 - <<'PY'
import hashlib, pathlib, re
folder = pathlib.Path("Fuzz/Corpus/xmpp")
for path in list(folder.iterdir()):
    data = path.read_bytes()
    path.unlink()
    starts = []
    for match in re.finditer(rb"<stream:stream ", data):
        declaration = data.rfind(b"<?xml ", 0, match.start())
        near = declaration >= 0 and match.start() - declaration < 60 and data[declaration:match.start()].rstrip().endswith(b"?>")
        starts.append(declaration if near else match.start())
    bounds = sorted(set([0] + starts)) + [len(data)]
    for begin, end in zip(bounds, bounds[1:]):
        piece = b"\x03" + data[begin:end]
        if end > begin:
            (folder / hashlib.sha1(piece).hexdigest()).write_bytes(piece)
print(f"capture: xmpp split into {len(list(folder.iterdir()))} streams")
PY

rm -rf Fuzz/Corpus/config; mkdir -p Fuzz/Corpus/config
python3 - <<'PY'
import hashlib, pathlib, re
texts = [p.read_text() for p in sorted(pathlib.Path("Tests/Fixtures").glob("*.toml"))]
texts += re.findall(r"```toml\n(.*?)```", pathlib.Path("docs/CONFIGURATION.md").read_text(), re.S)
for text in texts:
    data = text.encode()
    pathlib.Path("Fuzz/Corpus/config", hashlib.sha1(data).hexdigest()).write_bytes(data)
print(f"capture: config {len(texts)} files")
PY
rm -rf "$work"
