#!/usr/bin/env bash
# Load test of the live feed's bounds against the built `vigil` (see live_abuse.py): 200 WebSocket
# clients that never read, each sending 2,000 subscribe messages, while 10 normal clients watch.
# Needs .build/debug/vigil (or VIGIL_BINARY) and python3; no service. Bounded to about 2 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
exec timeout 240 python3 Tests/system/live_abuse.py "$@"
