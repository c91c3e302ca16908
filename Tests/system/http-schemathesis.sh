#!/usr/bin/env bash
# schemathesis (PyPI, pinned) against the built binary with docs/openapi.yaml (issue 11): no server
# error, no response the document does not describe. See http_schemathesis.py.
# Needs: .build/debug/vigil (or VIGIL_BINARY), python3 with venv, and PyPI for the first run (the
# virtual environment is kept in ~/.cache and reused).
set -euo pipefail
cd "$(dirname "$0")/../.."
version=4.32.5
venv="${VIGIL_SCHEMATHESIS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/vigil-schemathesis-$version}"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  if ! { python3 -m venv "$venv" && timeout 150 "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"; }; then
    echo "FAIL could not install schemathesis==$version from PyPI"
    echo "0 passed, 1 failed"
    exit 1
  fi
fi
exec timeout 200 python3 Tests/system/http_schemathesis.py --schemathesis "$venv/bin/schemathesis" "$@"
