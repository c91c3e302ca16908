#!/usr/bin/env python3
"""A recording TCP proxy for seed corpora (docs/FUZZING.md).

    capture.py LISTEN_PORT UPSTREAM_PORT OUT_DIR

Listens on 127.0.0.1:LISTEN_PORT, forwards every connection to 127.0.0.1:UPSTREAM_PORT and, when a
connection ends, writes what each side sent as OUT_DIR/NNNN-s2c.bin (server to client: what Vigil's
decoders read) and OUT_DIR/NNNN-c2s.bin (client to server). Streams longer than 16 KiB are cut into
16 KiB pieces, the fuzzers' default maximum input. Runs until killed (SIGTERM flushes open
connections).
"""
import asyncio
import itertools
import os
import signal
import sys

PIECE = 16 * 1024
counter = itertools.count()
open_streams = []


def save(out_dir, number, name, data):
    for index in range(0, len(data), PIECE):
        suffix = "" if index == 0 else f"-{index // PIECE}"
        with open(os.path.join(out_dir, f"{number:04d}-{name}{suffix}.bin"), "wb") as f:
            f.write(data[index:index + PIECE])


async def pump(reader, writer, sink):
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            sink.extend(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def handle(client_reader, client_writer, upstream_port, out_dir):
    number = next(counter)
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    except OSError:
        client_writer.close()
        return
    streams = (bytearray(), bytearray())
    entry = (number, streams)
    open_streams.append(entry)
    await asyncio.gather(
        pump(client_reader, server_writer, streams[0]),
        pump(server_reader, client_writer, streams[1]),
    )
    open_streams.remove(entry)
    flush(out_dir, number, streams)


def flush(out_dir, number, streams):
    if streams[0]:
        save(out_dir, number, "c2s", bytes(streams[0]))
    if streams[1]:
        save(out_dir, number, "s2c", bytes(streams[1]))


async def main():
    listen_port, upstream_port, out_dir = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    os.makedirs(out_dir, exist_ok=True)
    server = await asyncio.start_server(
        lambda r, w: handle(r, w, upstream_port, out_dir), "127.0.0.1", listen_port)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with server:
        await stop.wait()
    for number, streams in list(open_streams):
        flush(out_dir, number, streams)


if __name__ == "__main__":
    asyncio.run(main())
