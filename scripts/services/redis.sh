#!/usr/bin/env bash
# Redis for Vigil's integration tests and benchmarks. Source this file, then:
#
#   redis_start DIR   # starts redis-server on a free loopback port with its data and log in DIR
#                     # (no persistence), waits until it answers PING, and exports REDIS_HOST,
#                     # REDIS_PORT, REDIS_BIN and REDIS_PID
#   redis_stop        # stops that server and the cluster
#
# redis_start also starts a Redis Cluster (redis_cluster_start, below) in DIR/cluster, so that
# scripts/test has both; REDIS_CLUSTER=0 skips it.
#
# Tests that must kill and restart a server, or need one with a password, start their own
# from REDIS_BIN.

SERVICE_PACKAGES+=(redis-server redis-tools)
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
    if [ "${REDIS_CLUSTER:-1}" != 0 ]; then
        redis_cluster_start "$dir/cluster" || return 1
    fi
}

redis_stop() {
    redis_cluster_stop
    if [ -n "${REDIS_PID:-}" ]; then
        kill "$REDIS_PID" 2>/dev/null
        wait "$REDIS_PID" 2>/dev/null
        unset REDIS_PID
    fi
}

# --- Redis Cluster -------------------------------------------------------------------------------
#
#   redis_cluster_start DIR   # six cluster-mode redis-servers on free loopback ports (three masters,
#                             # one replica each, cluster-node-timeout 1000 ms so that a killed
#                             # master fails over in about 2 s), joined with `redis-cli --cluster
#                             # create`; waits until every node says cluster_state:ok and each
#                             # master has its replica. Exports:
#       REDIS_CLUSTER_NODES   host:port of every node, comma-separated (the seeds for a client)
#       REDIS_CLUSTER_DIR     one folder per node, named by its port, holding redis.conf: a test that
#                             killed a node restarts it with `$REDIS_BIN $REDIS_CLUSTER_DIR/PORT/redis.conf
#                             --daemonize yes` (it rejoins as a replica); redis_cluster_stop stops it
#                             through its pid file, whoever started it
#       REDIS_CLUSTER_PIDFILES one pid file per node, comma-separated, in the order of the nodes:
#                             a test finds a master's port with CLUSTER SHARDS and kills the process
#                             whose pid is in $REDIS_CLUSTER_DIR/PORT/redis.pid
#   redis_cluster_stop        # stops every node
#
# REDIS_CLUSTER_NODE_TIMEOUT (milliseconds, default 1000) changes the failure-detection time.

# A free port P whose cluster bus port P+10000 is free too.
_redis_free_cluster_port() {
    python3 -c '
import random, socket
for _ in range(200):
    port = random.randint(20000, 55000)
    try:
        for p in (port, port + 10000):
            s = socket.socket(); s.bind(("127.0.0.1", p)); s.close()
        print(port); break
    except OSError:
        pass
'
}

_redis_cluster_pid() {
    cat "$REDIS_CLUSTER_DIR/$1/redis.pid" 2>/dev/null
}

redis_cluster_start() {
    local dir=${1:?usage: redis_cluster_start DIR} port ports=() node i ok
    mkdir -p "$dir"
    REDIS_CLUSTER_DIR=$dir
    REDIS_CLI_BIN="${REDIS_CLI_BIN:-$(command -v redis-cli || echo /usr/bin/redis-cli)}"
    for i in 1 2 3 4 5 6; do
        port=$(_redis_free_cluster_port)
        # Two calls may pick the same port before either server binds it.
        while [[ " ${ports[*]} " == *" $port "* ]]; do port=$(_redis_free_cluster_port); done
        ports+=("$port")
        node="$dir/$port"
        mkdir -p "$node"
        cat >"$node/redis.conf" <<CONF
port $port
bind 127.0.0.1
cluster-enabled yes
cluster-config-file nodes.conf
cluster-node-timeout ${REDIS_CLUSTER_NODE_TIMEOUT:-1000}
cluster-replica-validity-factor 0
cluster-require-full-coverage no
save ""
appendonly no
dir $node
logfile $node/redis.log
pidfile $node/redis.pid
CONF
        "$REDIS_BIN" "$node/redis.conf" --daemonize no >"$node/redis.out" 2>&1 &
    done
    for port in "${ports[@]}"; do
        if ! _redis_wait_ready "$port"; then
            echo "redis.sh: cluster node $port did not start; log:" >&2
            cat "$dir/$port/redis.log" >&2 2>/dev/null
            return 1
        fi
    done
    if ! "$REDIS_CLI_BIN" --cluster create $(printf '127.0.0.1:%s ' "${ports[@]}") --cluster-replicas 1 --cluster-yes \
        >"$dir/create.out" 2>&1; then
        echo "redis.sh: redis-cli --cluster create failed:" >&2
        cat "$dir/create.out" >&2
        return 1
    fi
    # Ready when every node sees a healthy cluster and each master reports its replica.
    for i in $(seq 1 300); do
        ok=1
        for port in "${ports[@]}"; do
            "$REDIS_CLI_BIN" -p "$port" cluster info 2>/dev/null | grep -q '^cluster_state:ok' || { ok=0; break; }
            [ "$("$REDIS_CLI_BIN" -p "$port" cluster nodes 2>/dev/null | grep -cE ' (myself,)?slave [0-9a-f]{40} .* connected')" = 3 ] || { ok=0; break; }
        done
        [ $ok = 1 ] && break
        sleep 0.1
    done
    if [ $ok != 1 ]; then
        echo "redis.sh: the cluster did not reach cluster_state:ok with three replicas:" >&2
        "$REDIS_CLI_BIN" -p "${ports[0]}" cluster nodes >&2
        return 1
    fi
    REDIS_CLUSTER_NODES=$(printf '127.0.0.1:%s,' "${ports[@]}")
    REDIS_CLUSTER_NODES=${REDIS_CLUSTER_NODES%,}
    REDIS_CLUSTER_PIDFILES=$(printf "$dir/%s/redis.pid," "${ports[@]}")
    REDIS_CLUSTER_PIDFILES=${REDIS_CLUSTER_PIDFILES%,}
    REDIS_CLUSTER_PORTS="${ports[*]}"
    export REDIS_CLUSTER_NODES REDIS_CLUSTER_DIR REDIS_CLUSTER_PIDFILES REDIS_CLI_BIN
}

redis_cluster_stop() {
    local port pid i
    [ -n "${REDIS_CLUSTER_PORTS:-}" ] || return 0
    for port in $REDIS_CLUSTER_PORTS; do
        pid=$(_redis_cluster_pid "$port")
        [ -n "$pid" ] && kill "$pid" 2>/dev/null
    done
    for port in $REDIS_CLUSTER_PORTS; do
        pid=$(_redis_cluster_pid "$port")
        [ -n "$pid" ] || continue
        # Restarted nodes are not our children: wait for them by polling. A node restarted by a
        # test process may have inherited a blocked SIGTERM: SIGKILL after 3 s.
        wait "$pid" 2>/dev/null
        for i in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    done
    unset REDIS_CLUSTER_PORTS REDIS_CLUSTER_NODES
}
