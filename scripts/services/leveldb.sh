#!/usr/bin/env bash
# A real LevelDB writer for the `vigil import iotmonitor-leveldb` tests: Debian's python3-plyvel
# (LevelDB 1.23, the library iotmonitor links). Nothing runs; source this file, then:
#
#   leveldb_start DIR   # checks that the system python3 can `import plyvel` and exports LEVELDB_PYTHON
#   leveldb_stop        # nothing to stop
SERVICE_PACKAGES+=(python3-plyvel)

leveldb_start() {
    local python=${LEVELDB_PYTHON:-/usr/bin/python3}
    if ! "$python" -c 'import plyvel' 2>/dev/null; then
        echo "leveldb: $python cannot import plyvel (install python3-plyvel)" >&2
        return 1
    fi
    export LEVELDB_PYTHON=$python
}

leveldb_stop() { :; }
