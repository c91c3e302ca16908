#!/usr/bin/env python3
# The seed-003 plan's agent, for comparison with `vigil agent` (bench/agent/run.sh): psutil samples
# the same things (CPU times and usage, memory, load, network counters and rates per interface but
# lo, disk usage of /) every INTERVAL seconds, builds the same JSON report (docs/API.md, "Host
# agents") and publishes it with paho-mqtt at QoS 1 to <prefix>/<name>/metrics, with a retained
# online status and a Last Will of offline, as `vigil agent --push mqtt://...` does.
#
# Usage: psutil_agent.py HOST PORT NAME INTERVAL [PREFIX]
import json
import os
import sys
import time

import paho.mqtt.client as mqtt
import psutil

host, port, name, interval = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
prefix = sys.argv[5] if len(sys.argv) > 5 else "vigil/agents"
status_topic = f"{prefix}/{name}/status"
metrics_topic = f"{prefix}/{name}/metrics"

client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"psutil-agent-{name}", protocol=mqtt.MQTTv5)
client.will_set(status_topic, "offline", qos=1, retain=True)
client.on_connect = lambda c, userdata, flags, reason, properties: c.publish(status_topic, "online", qos=1, retain=True)
client.connect(host, port, keepalive=30)
client.loop_start()

previous = None
while True:
    now = time.time()
    metrics = []
    cpu = psutil.cpu_times()
    for mode in ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"):
        metrics.append({"name": "cpu_seconds_total", "value": getattr(cpu, mode, 0.0), "labels": {"mode": mode}})
    busy = cpu.user + cpu.nice + cpu.system + cpu.irq + cpu.softirq + cpu.steal
    total = busy + cpu.idle + cpu.iowait
    memory = psutil.virtual_memory()
    metrics += [{"name": "memory_total_bytes", "value": memory.total},
                {"name": "memory_available_bytes", "value": memory.available},
                {"name": "memory_used_ratio", "value": 1 - memory.available / memory.total}]
    load = os.getloadavg()
    metrics += [{"name": "load1", "value": load[0]}, {"name": "load5", "value": load[1]}, {"name": "load15", "value": load[2]}]
    network = {nic: counters for nic, counters in psutil.net_io_counters(pernic=True).items() if nic != "lo"}
    for nic, counters in network.items():
        metrics.append({"name": "network_receive_bytes_total", "value": counters.bytes_recv, "labels": {"interface": nic}})
        metrics.append({"name": "network_transmit_bytes_total", "value": counters.bytes_sent, "labels": {"interface": nic}})
    disk = psutil.disk_usage("/")
    metrics += [{"name": "disk_total_bytes", "value": disk.total, "labels": {"mountpoint": "/"}},
                {"name": "disk_free_bytes", "value": disk.free, "labels": {"mountpoint": "/"}},
                {"name": "disk_used_ratio", "value": 1 - disk.free / disk.total, "labels": {"mountpoint": "/"}}]
    if previous is not None:
        last_time, last_busy, last_total, last_network = previous
        if total > last_total:
            metrics.append({"name": "cpu_usage_ratio", "value": (busy - last_busy) / (total - last_total)})
        elapsed = now - last_time
        for nic, counters in network.items():
            if nic in last_network and elapsed > 0:
                metrics.append({"name": "network_receive_bytes_per_second",
                                "value": max(0, counters.bytes_recv - last_network[nic].bytes_recv) / elapsed, "labels": {"interface": nic}})
                metrics.append({"name": "network_transmit_bytes_per_second",
                                "value": max(0, counters.bytes_sent - last_network[nic].bytes_sent) / elapsed, "labels": {"interface": nic}})
    previous = (now, busy, total, network)
    report = {"version": 1, "host": name, "interval_seconds": interval, "dropped_samples": 0,
              "samples": [{"time": now, "metrics": metrics}]}
    client.publish(metrics_topic, json.dumps(report), qos=1)
    time.sleep(max(0.0, interval - (time.time() - now)))
