#!/usr/bin/env python3
# The peer of Vigil's device watchdog in the benchmark: the watchdog a Python user writes with
# paho-mqtt and asyncio. paho's network thread (loop_start) receives; each message hands its device
# to the asyncio loop (call_soon_threadsafe), which cancels the device's timer and schedules a new
# one with call_later: one scheduled callback per device, the idiomatic design.
#
# Devices `dev0` ... `devN-1` publish under `site/devK/...`; the watchdog subscribes to `site/#`
# (QoS 1, MQTT 5) and finds the device from the topic's second level. The run ends with a message
# on `site/end`.
#
# Usage: paho_watchdog.py HOST PORT DEVICES TIMEOUT
# Prints READY once subscribed, then
# `paho received=N expiries=E late_p50_ms=... late_p99_ms=... late_max_ms=...`.
import asyncio, os, sys

import paho.mqtt.client as mqtt
from paho.mqtt.subscribeoptions import SubscribeOptions

host, port, devices, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
index = {f"dev{k}": k for k in range(devices)}


async def main():
    loop = asyncio.get_running_loop()
    timers = [None] * devices
    late = []
    received = 0
    subscribed = asyncio.Event()
    done = asyncio.Event()

    def expired(device, deadline):
        late.append(loop.time() - deadline)
        timers[device] = None

    def arm(device):
        if timers[device] is not None:
            timers[device].cancel()
        deadline = loop.time() + timeout
        timers[device] = loop.call_at(deadline, expired, device, deadline)

    def heard(device):
        nonlocal received
        received += 1
        arm(device)

    def on_message(client, userdata, message):
        if message.topic == "site/end":
            loop.call_soon_threadsafe(done.set)
            return
        device = index.get(message.topic.split("/", 2)[1])
        if device is not None:
            loop.call_soon_threadsafe(heard, device)

    def on_subscribe(client, userdata, mid, reason_codes, properties):
        loop.call_soon_threadsafe(subscribed.set)

    def on_connect(client, userdata, flags, reason_code, properties):
        client.subscribe("site/#", options=SubscribeOptions(qos=1, noLocal=True))

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"paho-watchdog-{os.getpid()}", protocol=mqtt.MQTTv5)
    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect(host, port)
    client.loop_start()
    await subscribed.wait()
    for device in range(devices):
        arm(device)
    print("READY", flush=True)
    await done.wait()
    client.loop_stop()
    client.disconnect()
    late.sort()

    def percentile(p):
        return f"{late[min(len(late) - 1, int((len(late) - 1) * p))] * 1000:.1f}" if late else "nan"

    print(f"paho received={received} expiries={len(late)} late_p50_ms={percentile(0.5)} late_p99_ms={percentile(0.99)} late_max_ms={percentile(1)}", flush=True)


asyncio.run(main())
