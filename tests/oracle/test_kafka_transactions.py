"""Kafka transactions on Runnel's Kafka listener, driven by confluent-kafka (librdkafka).

- An aborted transaction is invisible to a ``read_committed`` consumer and visible to a
  ``read_uncommitted`` one; committed transactions are visible to both.
- Exactly-once consume-transform-produce: a transactional loop (``init_transactions``,
  ``begin_transaction``, produce, ``send_offsets_to_transaction``, ``commit_transaction``)
  copies N input records to an output topic while the server is SIGKILLed and restarted
  (``EOS_KILLS`` times, 3 by default; ``scripts/eos-loop.sh`` runs more). Afterwards a
  ``read_committed`` consumer sees every input exactly once, in order per partition.

Run: ``.venv/bin/python -m pytest tests/oracle/test_kafka_transactions.py`` after
``cargo build -p runnel-cli``. The server comes from conftest.py.
"""

import os
import threading
import time
import uuid

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition

from conftest import RunnelServer


@pytest.fixture(scope="module")
def server():
    """A server of this module's own: the exactly-once test kills and restarts it."""
    s = RunnelServer(kafka=True)
    yield s
    s.stop()


def create_topic(server, partitions, prefix):
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    server.cli("topic", "create", topic, "--partitions", str(partitions), "--validation", "none")
    return topic


def read_all(server, topic, isolation, want, timeout=30):
    """Every record of ``topic`` from the start, as (partition, offset, value), read with
    ``isolation`` until ``want`` records arrived or nothing came for a while."""
    c = Consumer({"bootstrap.servers": server.kafka, "group.id": f"r-{uuid.uuid4().hex[:6]}",
                  "auto.offset.reset": "earliest", "enable.auto.commit": False, "isolation.level": isolation})
    c.subscribe([topic])
    got = []
    deadline = time.monotonic() + timeout
    quiet_until = None
    while time.monotonic() < deadline:
        msg = c.poll(0.2)
        if msg is None:
            if len(got) >= want:
                # Keep polling a little: anything beyond `want` would be a duplicate.
                quiet_until = quiet_until or time.monotonic() + 1.5
                if time.monotonic() > quiet_until:
                    break
            continue
        if msg.error():
            if msg.error().code() == KafkaError._PARTITION_EOF:
                continue
            raise KafkaException(msg.error())
        got.append((msg.partition(), msg.offset(), msg.value().decode()))
    c.close()
    return got


def test_aborted_transaction_is_invisible_to_read_committed(server):
    topic = create_topic(server, 1, "txn")
    p = Producer({"bootstrap.servers": server.kafka, "transactional.id": f"t-{uuid.uuid4().hex[:6]}",
                  "compression.type": "none", "linger.ms": 5})
    p.init_transactions(30)
    for name, count, commit in (("a", 5, True), ("b", 4, False), ("c", 3, True)):
        p.begin_transaction()
        for i in range(count):
            p.produce(topic, value=f"{name}-{i}".encode(), partition=0)
        p.flush(30)
        if commit:
            p.commit_transaction(30)
        else:
            p.abort_transaction(30)
    committed = [v for _, _, v in read_all(server, topic, "read_committed", 8)]
    assert committed == [f"a-{i}" for i in range(5)] + [f"c-{i}" for i in range(3)]
    uncommitted = [v for _, _, v in read_all(server, topic, "read_uncommitted", 12)]
    assert uncommitted == [f"a-{i}" for i in range(5)] + [f"b-{i}" for i in range(4)] + [f"c-{i}" for i in range(3)]
    # A transaction still open holds read_committed readers back at its first offset.
    p.begin_transaction()
    p.produce(topic, value=b"open-0", partition=0)
    p.flush(30)
    assert [v for _, _, v in read_all(server, topic, "read_committed", 8, timeout=5)][-1] == "c-2"
    assert "open-0" in [v for _, _, v in read_all(server, topic, "read_uncommitted", 13, timeout=10)]
    p.commit_transaction(30)
    assert [v for _, _, v in read_all(server, topic, "read_committed", 9)][-1] == "open-0"


def test_a_new_producer_fences_the_old_one_and_aborts_its_transaction(server):
    topic = create_topic(server, 1, "fence")
    tid = f"f-{uuid.uuid4().hex[:6]}"
    conf = {"bootstrap.servers": server.kafka, "transactional.id": tid, "compression.type": "none"}
    old = Producer(conf)
    old.init_transactions(30)
    old.begin_transaction()
    old.produce(topic, value=b"zombie", partition=0)
    old.flush(30)
    new = Producer(conf)
    new.init_transactions(30)  # aborts the old producer's open transaction
    with pytest.raises(KafkaException) as fenced:
        old.commit_transaction(30)
    assert fenced.value.args[0].fatal() or fenced.value.args[0].code() in (
        KafkaError._FENCED, KafkaError.PRODUCER_FENCED, KafkaError.INVALID_PRODUCER_EPOCH)
    new.begin_transaction()
    new.produce(topic, value=b"fresh", partition=0)
    new.commit_transaction(30)
    assert [v for _, _, v in read_all(server, topic, "read_committed", 1)] == ["fresh"]


# --- exactly-once consume-transform-produce across SIGKILLs ---------------------------------

PARTITIONS = 2
RECORDS = int(os.environ.get("EOS_RECORDS", "600"))
KILLS = int(os.environ.get("EOS_KILLS", "3"))


# librdkafka (2.10+) "re-bootstraps" when every broker it knows was down for a while: it
# drops the learned brokers, and a group-coordinator request queued on the dropped handle
# (the producer's TxnOffsetCommit) then waits forever. Runnel is one broker at one address,
# so re-bootstrapping gains nothing; it is turned off.
NO_REBOOTSTRAP = {"metadata.recovery.strategy": "none"}


def eos_consumer(server, group):
    return Consumer({"bootstrap.servers": server.kafka, "group.id": group, "auto.offset.reset": "earliest",
                     "enable.auto.commit": False, "isolation.level": "read_committed",
                     "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, **NO_REBOOTSTRAP})


def eos_producer(server, tid):
    return Producer({"bootstrap.servers": server.kafka, "transactional.id": tid, "compression.type": "none",
                     "transaction.timeout.ms": 10000, "linger.ms": 5, "message.timeout.ms": 10000,
                     **NO_REBOOTSTRAP})


def committed_total(server, group, topic):
    c = Consumer({"bootstrap.servers": server.kafka, "group.id": group, "enable.auto.commit": False})
    try:
        parts = c.committed([TopicPartition(topic, p) for p in range(PARTITIONS)], timeout=10)
        return sum(max(tp.offset, 0) for tp in parts)
    finally:
        c.close()


def run_loop(server, source, sink, group, tid, stop, log):
    """Copies ``source`` to ``sink`` in transactions until ``stop`` is set, starting over
    (new consumer, new producer: init_transactions fences and aborts the old one) after
    any error: the server may be down at any moment."""
    while not stop.is_set():
        consumer = producer = None
        try:
            consumer = eos_consumer(server, group)
            consumer.subscribe([source])
            producer = eos_producer(server, tid)
            producer.init_transactions(30)
            while not stop.is_set():
                msgs = consumer.consume(8, 0.5)
                log.extend(repr(m.error()) for m in msgs if m.error() is not None)
                msgs = [m for m in msgs if m.error() is None]
                if not msgs:
                    continue
                producer.begin_transaction()
                for m in msgs:
                    producer.produce(sink, key=m.key(), value=m.value(), partition=m.partition())
                positions = consumer.position(consumer.assignment())
                producer.send_offsets_to_transaction(positions, consumer.consumer_group_metadata(), 30)
                producer.commit_transaction(30)
        except KafkaException as e:
            log.append(repr(e))
            err = e.args[0]
            if producer is not None and err.txn_requires_abort():
                try:
                    producer.abort_transaction(30)
                except KafkaException as e2:
                    log.append(repr(e2))
            time.sleep(0.2)
        finally:
            if consumer is not None:
                try:
                    consumer.close()
                except Exception as e:  # the server may be down
                    log.append(repr(e))


def test_exactly_once_consume_transform_produce_across_kills(server):
    source = create_topic(server, PARTITIONS, "eos-in")
    sink = create_topic(server, PARTITIONS, "eos-out")
    group = f"eos-{uuid.uuid4().hex[:6]}"
    feeder = Producer({"bootstrap.servers": server.kafka, "enable.idempotence": True, "acks": "all",
                       "compression.type": "none", "linger.ms": 5})
    for i in range(RECORDS):
        p = i % PARTITIONS
        feeder.produce(source, key=str(i).encode(), value=f"{p}:{i // PARTITIONS}".encode(), partition=p)
    assert feeder.flush(30) == 0

    stop, log = threading.Event(), []
    worker = threading.Thread(target=run_loop, args=(server, source, sink, group, f"eos-{group}", stop, log))
    worker.start()
    try:
        for k in range(KILLS):
            # Let the loop get into its stride (some of it committed), then kill mid-flight.
            target = RECORDS * (k + 1) // (KILLS + 2)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if committed_total(server, group, source) >= target:
                        break
                except KafkaException:
                    pass
                time.sleep(0.1)
            time.sleep(0.05 * (k + 1))
            server.kill()
            time.sleep(0.3)
            server.restart()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if committed_total(server, group, source) >= RECORDS:
                    break
            except KafkaException:
                pass
            time.sleep(0.2)
    finally:
        stop.set()
        worker.join(60)
    assert committed_total(server, group, source) == RECORDS, f"the loop did not finish: {log[-5:]}"

    got = read_all(server, sink, "read_committed", RECORDS, timeout=60)
    for p in range(PARTITIONS):
        values = [v for part, _, v in got if part == p]
        expected = [f"{p}:{j}" for j in range(len(range(p, RECORDS, PARTITIONS)))]
        assert values == expected, (
            f"partition {p}: {len(values)} records, {len(set(values))} distinct, "
            f"first difference at {next((i for i, (a, b) in enumerate(zip(values, expected)) if a != b), None)}")
