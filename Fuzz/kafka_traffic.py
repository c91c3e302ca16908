#!/usr/bin/env python3
"""Kafka traffic for the seed corpus (docs/FUZZING.md), through Fuzz/capture.py.

    kafka_traffic.py BOOTSTRAP

With the confluent-kafka client (librdkafka 2.16): creates a topic with three partitions, produces
records with keys, headers and a null value (idempotent, acks=all), then consumes them in a group
and commits. The broker must advertise the proxy's address so every connection passes through it.
"""
import sys
import uuid

from confluent_kafka import Consumer, Producer
from confluent_kafka.admin import AdminClient, NewTopic

bootstrap = sys.argv[1]
topic = "corpus-" + uuid.uuid4().hex[:8]
admin = AdminClient({"bootstrap.servers": bootstrap})
for future in admin.create_topics([NewTopic(topic, num_partitions=3, replication_factor=1)]).values():
    future.result()

producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all", "linger.ms": 5})
for index in range(200):
    value = None if index == 7 else ("value-%d" % index).encode() * (1 + index % 5)
    producer.produce(topic, key=("key-%d" % (index % 13)).encode(), value=value,
                     headers=[("h", b"v"), ("empty", b""), ("null", None)])
producer.flush(30)

consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "corpus", "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "session.timeout.ms": 6000})
consumer.subscribe([topic])
seen = 0
while seen < 200:
    message = consumer.poll(10)
    if message is None:
        break
    if message.error():
        continue
    seen += 1
consumer.commit(asynchronous=False)
consumer.close()
print(seen)
