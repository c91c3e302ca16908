#!/usr/bin/env bash
# schemathesis (PyPI, pinned) against the built binary with docs/openapi.yaml (issue 11): no server
# error, no response the document does not describe. See http_schemathesis.py.
# Needs: .build/debug/vigil (or VIGIL_BINARY), python3 with venv, and PyPI for the first run.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=4.32.5
venv="${VIGIL_SCHEMATHESIS_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/vigil-schemathesis-$version}"
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$version"
fi
exec timeout 280 python3 Tests/system/http_schemathesis.py --schemathesis "$venv/bin/schemathesis" "$@"
