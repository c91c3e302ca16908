#!/usr/bin/env bash
# Redis for Vigil's integration tests and benchmarks. Source this file, then:
#
#   redis_start DIR   # starts redis-server on a free loopback port with its data and log in DIR
#                     # (no persistence), waits until it answers PING, and exports REDIS_HOST,
#                     # REDIS_PORT, REDIS_BIN and REDIS_PID
#   redis_stop        # stops that server
#
# Tests that must kill and restart a server, or need one with a password, start their own
# from REDIS_BIN.

SERVICE_PACKAGES+=(redis-server)
REDIS_BIN="${REDIS_BIN:-$(command -v redis-server || echo /usr/bin/redis-server)}"

_redis_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Succeeds once the server at 127.0.0.1:PORT answers PING with +PONG.
_redis_wait_ready() {
    local port=$1 i reply
    for i in $(seq 1 200); do
        # In a subshell: a failed redirection of `exec` would end a non-interactive shell.
        reply=$( (exec 3<>"/dev/tcp/127.0.0.1/$port" && printf 'PING\r\n' >&3 && timeout 1 head -c 5 <&3) 2>/dev/null || true)
        [ "$reply" = "+PONG" ] && return 0
        sleep 0.05
    done
    return 1
}

redis_start() {
    local dir=${1:?usage: redis_start DIR}
    mkdir -p "$dir"
    REDIS_PORT=$(_redis_free_port)
    "$REDIS_BIN" --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
        --dir "$dir" --logfile "$dir/redis.log" >"$dir/redis.out" 2>&1 &
    REDIS_PID=$!
    if ! _redis_wait_ready "$REDIS_PORT"; then
        echo "redis.sh: redis-server did not start; log:" >&2
        cat "$dir/redis.log" "$dir/redis.out" >&2 2>/dev/null
        return 1
    fi
    export REDIS_HOST=127.0.0.1 REDIS_PORT REDIS_PID REDIS_BIN
}

redis_stop() {
    if [ -n "${REDIS_PID:-}" ]; then
        kill "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
        unset REDIS_PID
    fi
}
