#!/usr/bin/env bash
# HTTP abuse test against the built binary (issue 11): >= 10,000 requests with extreme and invalid
# values on every route; 0 crashes, only 2xx/4xx, /healthz answering throughout. See http_abuse.py.
# Needs: .build/debug/vigil (or VIGIL_BINARY) and python3 (standard library only).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec timeout 280 python3 Tests/system/http_abuse.py "$@"
