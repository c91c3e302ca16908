#!/usr/bin/env bash
# MariaDB for Vigil's integration tests. Source this file, then:
#
#   mariadb_start DIR   # creates a data directory under DIR, starts mariadbd on a free loopback
#                       # port, creates the test database and a mysql_native_password user for
#                       # '127.0.0.1' and 'localhost', and exports MARIADB_HOST, MARIADB_PORT,
#                       # MARIADB_USER, MARIADB_PASSWORD, MARIADB_DATABASE, MARIADB_DIR and MARIADB_PID
#   mariadb_stop        # stops that server
#
# mariadb_restart restarts the server on the same port and data directory (for reconnect tests run
# by hand); the tests themselves never stop the shared server.

SERVICE_PACKAGES+=(mariadb-server)

_mariadb_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

_mariadb_launch() {
    local dir=$1
    mariadbd --no-defaults --user="$(id -un)" --datadir="$dir/data" --port="$MARIADB_PORT" --bind-address=127.0.0.1 \
        --socket="$dir/mysqld.sock" --pid-file="$dir/mariadbd.pid" --log-error="$dir/error.log" \
        --skip-name-resolve --innodb-buffer-pool-size=64M --skip-log-bin >"$dir/out.log" 2>&1 &
    MARIADB_PID=$!
    local i
    for i in $(seq 1 200); do
        if mariadb-admin --no-defaults -h127.0.0.1 -P"$MARIADB_PORT" -uroot ping >/dev/null 2>&1; then return 0; fi
        if ! kill -0 "$MARIADB_PID" 2>/dev/null; then break; fi
        sleep 0.05
    done
    echo "mariadb.sh: mariadbd did not start; log:" >&2
    cat "$dir/error.log" "$dir/out.log" >&2
    return 1
}

mariadb_start() {
    local dir=${1:?usage: mariadb_start DIR}
    mkdir -p "$dir" && chmod 755 "$dir"
    export MARIADB_DIR=$dir
    MARIADB_HOST=127.0.0.1
    MARIADB_PORT=$(_mariadb_free_port)
    MARIADB_USER=vigil
    MARIADB_PASSWORD=vigil-test-pw
    MARIADB_DATABASE=vigil_test
    mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$dir/data" --auth-root-authentication-method=normal \
        --skip-test-db --skip-name-resolve >"$dir/install.log" 2>&1 || {
        echo "mariadb.sh: mariadb-install-db failed; log:" >&2
        cat "$dir/install.log" >&2
        return 1
    }
    _mariadb_launch "$dir" || return 1
    mariadb --no-defaults -h127.0.0.1 -P"$MARIADB_PORT" -uroot <<SQL || return 1
CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\` CHARACTER SET utf8mb4;
CREATE USER '$MARIADB_USER'@'127.0.0.1' IDENTIFIED VIA mysql_native_password USING PASSWORD('$MARIADB_PASSWORD');
CREATE USER '$MARIADB_USER'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD('$MARIADB_PASSWORD');
GRANT ALL PRIVILEGES ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'localhost';
SQL
    export MARIADB_HOST MARIADB_PORT MARIADB_USER MARIADB_PASSWORD MARIADB_DATABASE MARIADB_PID
}

mariadb_restart() {
    mariadb_stop
    _mariadb_launch "${MARIADB_DIR:?mariadb_start first}" && export MARIADB_PID
}

mariadb_stop() {
    if [ -n "${MARIADB_PID:-}" ]; then
        kill "$MARIADB_PID" 2>/dev/null
        wait "$MARIADB_PID" 2>/dev/null
        unset MARIADB_PID
    fi
}
