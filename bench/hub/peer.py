#!/usr/bin/env python3
"""The peer of HubBench: the same reports written the way a Python service would write them.

    peer.py PATH DEVICES SAMPLES ROUNDS     (PATH: an empty database made by `HubBench schema`)

Python's sqlite3 module in WAL mode with synchronous=NORMAL and a 32 MiB page cache, as Vigil
opens its writer: the latest state of each device in a dict, series ids cached in a dict, and every
BATCH points (default 100,000, the size of the hub's writes at full speed) one transaction with
`executemany` for the points and for the changed states, their attributes and values as
`json.dumps` text. Prints one JSON line like HubBench.
"""
import json
import os
import sqlite3
import sys
import time

SAMPLE_NAMES = ["rx_bytes_per_second", "temperature_celsius", "rssi_dbm", "battery_ratio", "uptime_seconds"]
# The size of the hub's writes at full speed: half of its default bound of 200,000 points.
BATCH = int(os.environ.get("BATCH", "100000"))


def value(device, round_, sample):
    return ((device * 7 + round_ * 13 + sample * 31) % 1000) / 4


def main():
    path, devices, samples, rounds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA cache_size = -32768")
    series_ids = {}
    states = {}
    dirty = set()
    points = []

    def flush():
        conn.execute("BEGIN")
        rows = []
        for key, t, v in points:
            sid = series_ids.get(key)
            if sid is None:
                found = conn.execute("SELECT id FROM history_series WHERE key = ?", (key,)).fetchone()
                if found is None:
                    sid = conn.execute("INSERT INTO history_series (key) VALUES (?)", (key,)).lastrowid
                else:
                    sid = found[0]
                series_ids[key] = sid
            rows.append((sid, t, v))
        conn.executemany("INSERT INTO history_point (series_id, time, value) VALUES (?, ?, ?)", rows)
        conn.executemany(
            "INSERT OR REPLACE INTO latest_state (kind, name, status, since, updated_at, attributes, vals) VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                ("device", name, s["status"], s["since"], s["updated_at"], json.dumps(s["attributes"]), json.dumps(s["values"]))
                for name in dirty
                for s in (states[name],)
            ],
        )
        conn.execute("COMMIT")
        points.clear()
        dirty.clear()

    names = [f"d{i}" for i in range(devices)]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for round_ in range(rounds):
        for device in range(devices):
            t = 1_800_000_000 + round_ * 2 + device * 2 / devices
            name = names[device]
            state = states.get(name)
            if state is None:
                state = {"status": "up", "since": t, "updated_at": t, "attributes": {}, "values": {}}
                states[name] = state
            state["updated_at"] = max(state["updated_at"], t)
            state["attributes"]["last_contact"] = t
            for k in range(samples):
                v = value(device, round_, k)
                state["values"][SAMPLE_NAMES[k]] = v
                points.append((f"device/{name}/{SAMPLE_NAMES[k]}", t, v))
            dirty.add(name)
            if len(points) >= BATCH:
                flush()
    if points or dirty:
        flush()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    total = devices * samples * rounds
    print(json.dumps({"name": "python-sqlite3", "samples": total, "seconds": wall, "cpu_seconds": cpu,
                      "samples_per_second": total / wall, "cpu_us_per_sample": cpu * 1e6 / total}))


if __name__ == "__main__":
    main()
