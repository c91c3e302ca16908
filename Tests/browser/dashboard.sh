#!/usr/bin/env bash
# Browser test of the dashboard, run by scripts/test after `swift test` (see dashboard_test.py).
# Needs: .build/debug/vigil (or VIGIL_BINARY), Debian's chromium + chromium-driver + libjs-chart.js,
# Selenium from PyPI, and a Mosquitto from scripts/services/mosquitto.sh (MOSQUITTO_HOST/PORT).
set -euo pipefail
cd "$(dirname "$0")/../.."
exec python3 Tests/browser/dashboard_test.py "$@"
