#!/usr/bin/env bash
# Syntax check of the dashboard's JavaScript: `node --check` on every .js file under
# Sources/VigilWeb (the files SwiftPM compiles into the binary with .embedInCode). Installs Debian's
# nodejs when `node` is missing (as root). Prints "N passed, N failed"; exits non-zero on a failure.
set -uo pipefail
cd "$(dirname "$0")/../.."

if ! command -v node >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "dashboard-js: installing nodejs"
    DEBIAN_FRONTEND=noninteractive timeout 240 apt-get install -y -q --no-install-recommends nodejs >/dev/null \
      || { DEBIAN_FRONTEND=noninteractive timeout 120 apt-get update -q >/dev/null \
           && DEBIAN_FRONTEND=noninteractive timeout 240 apt-get install -y -q --no-install-recommends nodejs >/dev/null; }
  fi
  if ! command -v node >/dev/null 2>&1; then
    echo "dashboard-js: node is missing (apt-get install nodejs)" >&2
    echo "0 passed, 1 failed"
    exit 1
  fi
fi

passed=0 failed=0
# check NAME COMMAND...: runs the command, counts and reports the result with its output on failure.
check() {
  local name=$1 output
  shift
  if output=$("$@" 2>&1); then
    echo "ok   $name"
    passed=$((passed + 1))
  else
    echo "FAIL $name"
    echo "$output" | sed 's/^/     /'
    failed=$((failed + 1))
  fi
}

while IFS= read -r -d '' file; do
  check "$file" timeout 30 node --check "$file"
done < <(find Sources/VigilWeb -name '*.js' -type f -print0 | sort -z)

# The served names.js parses and defines what VigilCore's AttributeName and SampleName say.
check_names() {
  timeout 30 node --check "$1" && timeout 30 node -e '
    global.window = {}; require(process.argv[1]);
    const n = window.VIGIL_NAMES;
    if (!n || n.attributes.lastSeen !== "last_seen" || n.samples.cpuUsageRatio !== "cpu_usage_ratio" || !Object.isFrozen(n.attributes)) {
      console.error("VIGIL_NAMES is not what VigilCore defines"); process.exit(1);
    }' "$1"
}

# names.js is rendered by vigil from VigilCore's names: check what the built binary serves.
binary=${VIGIL_BINARY:-.build/debug/vigil}
if [ -x "$binary" ]; then
  work=$(mktemp -d /tmp/vigil-dashboard-js.XXXXXX)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
  printf '[http]\nlisten = "127.0.0.1:%s"\n\n[store]\npath = "%s/vigil.sqlite"\n' "$port" "$work" >"$work/vigil.toml"
  binary_path=$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")
  # No VIGIL_* overrides from the caller's environment; the working folder is the scratch one.
  unset_vigil=$(env | sed -n 's/^\(VIGIL_[A-Za-z0-9_]*\)=.*/-u \1/p' | tr '\n' ' ')
  pushd "$work" >/dev/null
  # shellcheck disable=SC2086
  env $unset_vigil timeout 60 "$binary_path" serve --config "$work/vigil.toml" >"$work/vigil.log" 2>&1 &
  pid=$!
  popd >/dev/null
  if python3 - "$port" "$work/names.js" <<'PY'
import sys, time, urllib.request
url = f"http://127.0.0.1:{sys.argv[1]}/assets/names.js"
for _ in range(150):
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            open(sys.argv[2], "wb").write(response.read())
            sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
PY
  then
    check "/assets/names.js (served by $binary)" check_names "$work/names.js"
  else
    echo "FAIL /assets/names.js: vigil did not serve it; log: $work/vigil.log"
    failed=$((failed + 1))
  fi
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null
  [ "$failed" -eq 0 ] && rm -rf "$work"
else
  echo "dashboard-js: $binary not built; /assets/names.js not checked"
fi

if [ $((passed + failed)) -eq 0 ]; then
  echo "dashboard-js: no .js file under Sources/VigilWeb" >&2
  failed=1
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
