# confluent-kafka's side of bench/kafka/run.sh (librdkafka 2.16 inside the wheel), configured like
# KafkaBench: an idempotent producer with acks=all and linger.ms=5; a group consumer from the
# earliest offset.
#
# python3 bench.py produce BOOTSTRAP TOPIC COUNT SIZE  -> seconds from the second produce() to the flush
# python3 bench.py consume BOOTSTRAP TOPIC COUNT       -> seconds from the first record to the COUNT-th
import sys
import time

from confluent_kafka import Consumer, Producer

mode, bootstrap, topic, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
if mode == "produce":
    size = int(sys.argv[5])
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5,
                  "queue.buffering.max.messages": 200000})
    value = b"x" * size
    # Metadata and the producer id first, as KafkaBench does with one acknowledged record.
    p.produce(topic, value=value, partition=0)
    p.flush(60)
    start = time.monotonic()
    for n in range(count - 1):
        while True:
            try:
                p.produce(topic, value=value)
                break
            except BufferError:
                p.poll(0.01)
    if p.flush(120) != 0:
        sys.exit("not all records were delivered")
    print(time.monotonic() - start)
else:
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-python-" + topic, "auto.offset.reset": "earliest",
                  "session.timeout.ms": 6000})
    c.subscribe([topic])
    seen, start = 0, None
    while seen < count:
        # Until the first record, ask for one: consume(n) returns only once n records are queued
        # (or at its timeout), so a first call for 10,000 would start the clock after librdkafka
        # had already fetched them, leaving its first fetches out of the time. VigilKafka's clock
        # starts at its first record too. Never more than remain, or the last call waits for its
        # timeout.
        for m in c.consume(min(10000, count - seen) if start is not None else 1, 1.0):
            if not m.error():
                if start is None:
                    start = time.monotonic()
                seen += 1
    print(time.monotonic() - start)
    c.close()
