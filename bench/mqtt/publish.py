#!/usr/bin/env python3
# Fast MQTT 3.1.1 publisher for the benchmark: pre-encodes COUNT PUBLISH packets of 40-byte
# payloads ("%010d vigil-mqtt-benchmark-payload") and writes them on one socket as fast as the
# broker reads them, so that the broker and the subscribers, not the publisher, set the pace.
# Prints "start=EPOCH" just before the first byte is sent and "end=EPOCH" when everything was
# written (QoS 0) or acknowledged (QoS 1).
#
# With DEVICES, TOPIC is a pattern: "{device}" in it becomes the device number, message i going to
# device i % DEVICES (the device watchdog's traffic in bench/callgrind).
#
# With DEVICES and $PUBLISH_RATE (messages per second), the messages are paced instead of written
# at once.
#
# Usage: publish.py HOST PORT TOPIC COUNT QOS [DEVICES]   (client id: $PUBLISH_CLIENT_ID, default
# vigil-bench-pub; two publishers at once need two ids, or the second takes the first's session
# and the broker drops what it had not read yet)
import os, socket, struct, sys, threading, time

host, port, topic, count, qos = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
devices = int(sys.argv[6]) if len(sys.argv) > 6 else 0

def remaining_length(n):
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)

def packet(header, body):
    return bytes([header]) + remaining_length(len(body)) + body

sock = socket.create_connection((host, port))
sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
client_id = os.environ.get("PUBLISH_CLIENT_ID", "vigil-bench-pub").encode()
connect = struct.pack("!H4sBBH", 4, b"MQTT", 4, 0x02, 60) + struct.pack("!H", len(client_id)) + client_id
sock.sendall(packet(0x10, connect))
if sock.recv(4)[:1] != b"\x20":
    sys.exit("no CONNACK")

def prefix(i):
    name = (topic.replace("{device}", str(i % devices)) if devices else topic).encode()
    field = struct.pack("!H", len(name)) + name
    if qos == 0:
        return bytes([0x30]) + remaining_length(len(field) + 40) + field
    return bytes([0x32]) + remaining_length(len(field) + 42) + field + struct.pack("!H", i % 65535 + 1)

if devices:
    blob = b"".join(prefix(i) + b"%010d vigil-mqtt-benchmark-payload\n" % i for i in range(count))
else:
    # One topic: the same prefix for every message (and the packet identifier after it).
    fixed = prefix(0)
    if qos == 0:
        blob = b"".join(fixed + b"%010d vigil-mqtt-benchmark-payload\n" % i for i in range(count))
    else:
        blob = b"".join(fixed[:-2] + struct.pack("!H", i % 65535 + 1) + b"%010d vigil-mqtt-benchmark-payload\n" % i for i in range(count))

acked = threading.Event()
def read_acks():
    expected = count * 4  # PUBACK is 4 bytes
    received = 0
    while received < expected:
        data = sock.recv(1 << 20)
        if not data:
            break
        received += len(data)
    acked.set()

if qos:
    threading.Thread(target=read_acks, daemon=True).start()
rate = float(os.environ.get("PUBLISH_RATE", "0"))
print("start=%.6f" % time.time(), flush=True)
if rate > 0 and devices:
    # Paced (PUBLISH_RATE messages per second, in 10 ms slices), so that the moment each message
    # is written is known: the send buffers never fill, and "start" to "end" is linear in i.
    per_slice = max(1, int(rate / 100))
    packets = [prefix(i) + b"%010d vigil-mqtt-benchmark-payload\n" % i for i in range(count)]
    began = time.monotonic()
    for n, first in enumerate(range(0, count, per_slice)):
        delay = began + n * per_slice / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sock.sendall(b"".join(packets[first:first + per_slice]))
else:
    sock.sendall(blob)
if qos:
    acked.wait(300)
print("end=%.6f" % time.time(), flush=True)
sock.sendall(b"\xe0\x00")
sock.close()
