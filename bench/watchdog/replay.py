#!/usr/bin/env python3
# Device traffic for the watchdog benchmark, replayed over MQTT in real time.
#
# DEVICES devices `devK` publish QoS 0 messages of 4 bytes to `site/devK/sensors/temp` every 1-4 s
# (a period per device, each gap varied by +-10 %) for DURATION seconds; one in ten falls silent
# at a random time in the first half and never returns. The first message of every device comes
# within three quarters of its period, so none expires before it was heard from. Packets are
# pre-encoded and written in 2 ms slices at their recorded times. When the recording is over the
# replay waits TIMEOUT + 1.5 s (the silent devices' last expiries) and publishes `site/end`, on
# which the watchdogs report and exit.
#
# Prints `start=EPOCH` (first byte sent), `count=N` (device messages) and `expected=E`: every
# device expires exactly once (gaps never reach TIMEOUT), the silent tenth during the recording
# and the others after its end.
#
# Usage: replay.py HOST PORT DEVICES DURATION TIMEOUT
import random, socket, struct, sys, time

host, port, devices, duration, timeout = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])


def remaining_length(n):
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish(topic, payload):
    body = struct.pack("!H", len(topic)) + topic + payload
    return b"\x30" + remaining_length(len(body)) + body


rng = random.Random(2026)
events = []
silent = 0
for device in range(devices):
    period = 1 + 3 * rng.random()
    silent_at = 1 + rng.random() * duration / 2 if rng.random() < 0.1 else float("inf")
    silent += silent_at != float("inf")
    t = rng.random() * period * 0.75
    while t < min(duration, silent_at):
        events.append((t, device))
        t += period * (0.9 + 0.2 * rng.random())
events.sort()
packets = [publish(b"site/dev%d/sensors/temp" % device, b"21.5") for _, device in events]

sock = socket.create_connection((host, port))
client_id = b"vigil-watchdog-replay"
connect = struct.pack("!H4sBBH", 4, b"MQTT", 4, 0x02, 60) + struct.pack("!H", len(client_id)) + client_id
sock.sendall(b"\x10" + remaining_length(len(connect)) + connect)
if sock.recv(4)[:1] != b"\x20":
    sys.exit("no CONNACK")

print("start=%.6f" % time.time(), flush=True)
begin = time.monotonic()
index = 0
while index < len(events):
    now = time.monotonic() - begin
    end = index
    while end < len(events) and events[end][0] <= now:
        end += 1
    if end > index:
        sock.sendall(b"".join(packets[index:end]))
        index = end
    time.sleep(0.002)
time.sleep(max(0.0, duration + timeout + 1.5 - (time.monotonic() - begin)))
sock.sendall(publish(b"site/end", b""))
sock.sendall(b"\xe0\x00")
sock.close()
print(f"count={len(events)}")
print(f"expected={devices}")
print(f"silent={silent}")
