"""Runnel's Kafka admin and group APIs against admin clients nobody here wrote.

kafka-python's ``KafkaAdminClient``, confluent-kafka's ``AdminClient`` (librdkafka),
kafkajs's admin (a node script in ``js/``, its version pinned by ``js/package-lock.json``)
and ``kcat`` talk to a real ``runnel serve`` (conftest.py) over its Kafka listener. Each
test checks the effect, not only the answer: a deleted group is gone from the listing and
its offsets with it, grown partitions are there and take records, records below a new log
start cannot be read, and a changed config is still there after a restart.

kcat and node are required: CI installs them (.ci/run), and a test that needs one fails
when it is missing rather than skipping.

Run: ``.venv/bin/python -m pytest tests/oracle/test_kafka_admin.py`` after
``cargo build -p runnel-cli``.
"""

import json
import logging
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ConfigSource,
    NewPartitions,
    NewTopic,
    OffsetSpec,
    ResourceType,
)

from conftest import RunnelServer

JS = Path(__file__).resolve().parent / "js"


@pytest.fixture(scope="module")
def server(runnel_server):
    """``runnel serve`` with its Kafka listener (conftest.py)."""
    return runnel_server


def name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def confluent_admin(server):
    return AdminClient({"bootstrap.servers": server.kafka})


def create_raw_topic(server, partitions=1):
    """A topic with validation ``none`` (any bytes), created over Kafka."""
    topic = name("admin")
    admin = confluent_admin(server)  # must outlive its futures
    futures = admin.create_topics([NewTopic(topic, partitions, 1, config={"runnel.validation": "none"})])
    futures[topic].result(10)
    return topic


def produce(server, topic, values, partition=0):
    producer = Producer({"bootstrap.servers": server.kafka, "acks": "all", "compression.type": "none"})
    errors = []
    for v in values:
        producer.produce(topic, value=v, partition=partition,
                         on_delivery=lambda err, msg: errors.append(err) if err else None)
    assert producer.flush(30) == 0
    assert errors == []


def read_partition(server, topic, partition, offset, want, timeout=20):
    """(offset, value) of what a consumer assigned at ``offset`` reads, or the error it gets."""
    consumer = Consumer({"bootstrap.servers": server.kafka, "group.id": name("reader"),
                         "enable.auto.commit": False, "auto.offset.reset": "error"})
    consumer.assign([TopicPartition(topic, partition, offset)])
    got = []
    deadline = time.time() + timeout
    try:
        while len(got) < want and time.time() < deadline:
            msg = consumer.poll(0.5)
            if msg is None:
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                return msg.error()
            got.append((msg.offset(), msg.value()))
    finally:
        consumer.close()
    return got


def watermarks(server, topic, partition):
    consumer = Consumer({"bootstrap.servers": server.kafka, "group.id": name("wm")})
    try:
        return consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
    finally:
        consumer.close()


def join_group(server, topic, group):
    """A live consumer-group member of ``group`` subscribed to ``topic`` (returned, still open)."""
    consumer = Consumer({"bootstrap.servers": server.kafka, "group.id": group, "auto.offset.reset": "earliest",
                         "enable.auto.commit": False, "session.timeout.ms": 6000, "heartbeat.interval.ms": 500})
    consumer.subscribe([topic])
    deadline = time.time() + 30
    while not consumer.assignment() and time.time() < deadline:
        consumer.poll(0.2)
    assert consumer.assignment(), "the member never got an assignment"
    return consumer


# --- confluent-kafka (librdkafka) ---------------------------------------------------------


def test_confluent_lists_describes_and_deletes_groups_refusing_a_live_one(server):
    topic = create_raw_topic(server)
    produce(server, topic, [b"a", b"b", b"c"])
    group = name("cg")
    admin = confluent_admin(server)
    member = join_group(server, topic, group)
    try:
        member.commit(offsets=[TopicPartition(topic, 0, 2)], asynchronous=False)
        listed = {g.group_id: g for g in admin.list_consumer_groups().result(10).valid}
        assert group in listed
        assert str(listed[group].state).endswith("STABLE")
        described = admin.describe_consumer_groups([group])[group].result(10)
        assert str(described.state).endswith("STABLE")
        assert len(described.members) == 1
        assert described.members[0].host == "/127.0.0.1"
        assigned = described.members[0].assignment.topic_partitions
        assert [(tp.topic, tp.partition) for tp in assigned] == [(topic, 0)]
        # A live member: NON_EMPTY_GROUP, and the group and its offsets stay.
        with pytest.raises(KafkaException) as refused:
            admin.delete_consumer_groups([group])[group].result(10)
        assert refused.value.args[0].code() == KafkaError.NON_EMPTY_GROUP
        assert member.committed([TopicPartition(topic, 0)], timeout=10)[0].offset == 2
    finally:
        member.close()
    # Its member left: now it goes, offsets and all.
    admin.delete_consumer_groups([group])[group].result(10)
    assert group not in {g.group_id for g in admin.list_consumer_groups().result(10).valid}
    fresh = Consumer({"bootstrap.servers": server.kafka, "group.id": group})
    try:
        assert fresh.committed([TopicPartition(topic, 0)], timeout=10)[0].offset < 0
    finally:
        fresh.close()
    with pytest.raises(KafkaException) as missing:
        admin.delete_consumer_groups([group])[group].result(10)
    assert missing.value.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND


def test_confluent_describes_the_cluster_and_grows_partitions_that_take_records(server):
    admin = confluent_admin(server)
    cluster = admin.describe_cluster().result(10)
    assert cluster.cluster_id == "runnel"
    assert [n.id for n in cluster.nodes] == [0]
    assert f"{cluster.nodes[0].host}:{cluster.nodes[0].port}" == server.kafka

    topic = create_raw_topic(server, partitions=2)
    admin.create_partitions([NewPartitions(topic, 4)])[topic].result(10)
    meta = admin.list_topics(topic, timeout=10).topics[topic]
    assert sorted(meta.partitions) == [0, 1, 2, 3]
    produce(server, topic, [b"on-three"], partition=3)
    assert read_partition(server, topic, 3, 0, 1) == [(0, b"on-three")]
    # Partitions only grow.
    with pytest.raises(KafkaException) as shrink:
        admin.create_partitions([NewPartitions(topic, 3)])[topic].result(10)
    assert shrink.value.args[0].code() == KafkaError.INVALID_PARTITIONS
    with pytest.raises(KafkaException) as same:
        admin.create_partitions([NewPartitions(topic, 4)])[topic].result(10)
    assert same.value.args[0].code() == KafkaError.INVALID_PARTITIONS


def test_confluent_describes_topic_and_broker_configs(server):
    topic = create_raw_topic(server)
    admin = confluent_admin(server)
    res = ConfigResource(ResourceType.TOPIC, topic)
    configs = admin.describe_configs([res])[res].result(10)  # librdkafka asks for synonyms
    assert configs["retention.ms"].value == str(7 * 24 * 3600 * 1000)
    synonyms = configs["segment.ms"].synonyms
    assert list(synonyms) == ["log.roll.ms"]
    assert synonyms["log.roll.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert configs["retention.ms"].source == ConfigSource.DEFAULT_CONFIG.value
    assert not configs["retention.ms"].is_read_only
    assert configs["runnel.validation"].value == "none"
    assert configs["runnel.validation"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["runnel.value.subject"].value == f"{topic}-value"
    assert configs["runnel.value.subject"].is_read_only
    assert configs["cleanup.policy"].value == "delete"
    assert not any(c.is_sensitive for c in configs.values())

    broker = ConfigResource(ResourceType.BROKER, "0")
    bc = admin.describe_configs([broker])[broker].result(10)
    assert bc["broker.id"].value == "0"
    assert bc["log.retention.ms"].value == str(7 * 24 * 3600 * 1000)
    assert bc["listeners"].value == f"PLAINTEXT://{server.kafka}"
    assert all(c.is_read_only for c in bc.values())


def test_confluent_incremental_alter_configs_change_enforcement_and_retention(server):
    topic = create_raw_topic(server)
    admin = confluent_admin(server)
    res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("retention.ms", "3600000", incremental_operation=AlterConfigOpType.SET),
        ConfigEntry("runnel.validation", "id", incremental_operation=AlterConfigOpType.SET),
    ])
    admin.incremental_alter_configs([res])[res].result(10)
    configs = admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)])
    configs = list(configs.values())[0].result(10)
    assert configs["retention.ms"].value == "3600000"
    assert configs["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    assert configs["runnel.validation"].value == "id"
    # The effect: validation `id` now refuses bytes without Confluent framing.
    producer = Producer({"bootstrap.servers": server.kafka, "acks": "all", "compression.type": "none",
                         "message.send.max.retries": 0})
    errors = []
    producer.produce(topic, value=b"not framed", partition=0, on_delivery=lambda err, msg: errors.append(err))
    producer.flush(30)
    assert len(errors) == 1 and errors[0] is not None
    assert errors[0].code() == KafkaError.INVALID_RECORD

    # DELETE returns it to the default; a bad value and a read-only config are refused whole.
    reset = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
        ConfigEntry("runnel.validation", None, incremental_operation=AlterConfigOpType.DELETE)])
    admin.incremental_alter_configs([reset])[reset].result(10)
    configs = list(admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values())[0].result(10)
    assert configs["runnel.validation"].value == "full"
    for bad in (ConfigEntry("retention.ms", "soon", incremental_operation=AlterConfigOpType.SET),
                ConfigEntry("runnel.value.subject", "x", incremental_operation=AlterConfigOpType.SET)):
        r = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[bad])
        with pytest.raises(KafkaException) as refused:
            admin.incremental_alter_configs([r])[r].result(10)
        assert refused.value.args[0].code() == KafkaError.INVALID_CONFIG


def test_confluent_delete_records_moves_the_log_start(server):
    topic = create_raw_topic(server)
    produce(server, topic, [f"r{i}".encode() for i in range(10)])
    admin = confluent_admin(server)
    done = admin.delete_records([TopicPartition(topic, 0, 6)])
    result = list(done.values())[0].result(10)
    assert result.low_watermark == 6
    assert watermarks(server, topic, 0) == (6, 10)
    offsets = admin.list_offsets({TopicPartition(topic, 0): OffsetSpec.earliest()})
    assert list(offsets.values())[0].result(10).offset == 6
    # Below the start: OFFSET_OUT_OF_RANGE; from it: the records that are left.
    below = read_partition(server, topic, 0, 2, 1)
    assert isinstance(below, KafkaError) and below.code() == KafkaError._AUTO_OFFSET_RESET
    assert read_partition(server, topic, 0, 6, 4) == [(i, f"r{i}".encode()) for i in range(6, 10)]
    # Past the end: refused.
    with pytest.raises(KafkaException) as past:
        list(admin.delete_records([TopicPartition(topic, 0, 11)]).values())[0].result(10)
    assert past.value.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE


def test_config_changes_and_the_log_start_survive_a_restart(runnel_binary):
    first = RunnelServer(kafka=True)
    data = first.data
    try:
        topic = create_raw_topic(first, partitions=1)
        produce(first, topic, [b"x"] * 5)
        admin = confluent_admin(first)
        res = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[
            ConfigEntry("retention.bytes", "1048576", incremental_operation=AlterConfigOpType.SET),
            ConfigEntry("runnel.validation", "id", incremental_operation=AlterConfigOpType.SET)])
        admin.incremental_alter_configs([res])[res].result(10)
        admin.create_partitions([NewPartitions(topic, 2)])[topic].result(10)
        list(admin.delete_records([TopicPartition(topic, 0, 3)]).values())[0].result(10)
    finally:
        first.stop(keep_data=True)
    second = RunnelServer(kafka=True, data=data)
    try:
        admin = confluent_admin(second)
        configs = list(admin.describe_configs([ConfigResource(ResourceType.TOPIC, topic)]).values())[0].result(10)
        assert configs["retention.bytes"].value == "1048576"
        assert configs["runnel.validation"].value == "id"
        assert sorted(admin.list_topics(topic, timeout=10).topics[topic].partitions) == [0, 1]
        assert watermarks(second, topic, 0) == (3, 5)
    finally:
        second.stop()


# --- kafka-python -------------------------------------------------------------------------


def test_kafka_python_admin_client(server, caplog):
    from kafka import KafkaConsumer, KafkaProducer
    from kafka.admin import ConfigResource as KConfigResource
    from kafka.admin import ConfigResourceType, KafkaAdminClient, OffsetSpec as KOffsetSpec
    from kafka.admin import NewTopic as KNewTopic
    from kafka.errors import GroupSubscribedToTopicError
    from kafka.errors import NoError as KNoError
    from kafka.structs import TopicPartition as KTopicPartition

    caplog.set_level(logging.WARNING, logger="kafka")
    topic, group = name("kp"), name("kpg")
    admin = KafkaAdminClient(bootstrap_servers=server.kafka, client_id="runnel-oracle")
    try:
        admin.create_topics([KNewTopic(topic, 1, 1, topic_configs={"runnel.validation": "none"})])
        producer = KafkaProducer(bootstrap_servers=server.kafka, acks="all")
        for i in range(8):
            producer.send(topic, value=f"m{i}".encode(), partition=0)
        producer.flush(30)
        producer.close()
        consumer = KafkaConsumer(topic, bootstrap_servers=server.kafka, group_id=group, auto_offset_reset="earliest",
                                 enable_auto_commit=False, consumer_timeout_ms=15000)
        got = []
        for msg in consumer:
            got.append(msg.value)
            if len(got) == 8:
                break
        assert got == [f"m{i}".encode() for i in range(8)]
        consumer.commit()

        listed = {g["group_id"]: g for g in admin.list_groups()}
        assert listed[group]["group_state"] == "Stable"
        assert listed[group]["protocol_type"] == "consumer"
        # A live member: refused, the group and its offsets stay.
        assert admin.delete_groups([group]) == {group: "NonEmptyGroupError"}
        tp0 = KTopicPartition(topic, 0)
        assert admin.delete_group_offsets(group, [tp0]) == {tp0: GroupSubscribedToTopicError}
        assert admin.list_group_offsets({group: None})[group][tp0].offset == 8
        consumer.close()
        described = admin.describe_groups([group])[group]
        assert (described["group_state"], described["members"], described["error"]) == ("Empty", [], None)

        admin.create_partitions({topic: 2})
        assert len(admin.describe_topics([topic])[0]["partitions"]) == 2

        configs = admin.describe_configs([KConfigResource(ConfigResourceType.TOPIC, topic)], config_filter="all")
        entry = configs["topic"][topic]["retention.ms"]
        assert (entry["value"], entry["config_source"], entry["read_only"]) == (
            str(7 * 24 * 3600 * 1000), "DEFAULT_CONFIG", False)
        # `runnel.validation` is not one of Kafka's topic configs: kafka-python checks names unless told not to.
        result = admin.alter_configs(
            [KConfigResource(ConfigResourceType.TOPIC, topic, configs={"retention.ms": "120000"})],
            raise_on_unknown=False)
        assert result == {"topic": {topic: "OK"}}
        # The default filter shows what differs from the defaults: exactly what was set.
        modified = admin.describe_configs([KConfigResource(ConfigResourceType.TOPIC, topic)])["topic"][topic]
        assert {k: v["value"] for k, v in modified.items()} == {"retention.ms": "120000", "runnel.validation": "none"}

        deleted = admin.delete_records({KTopicPartition(topic, 0): 5})
        assert list(deleted.values())[0]["low_watermark"] == 5
        earliest = admin.list_partition_offsets({KTopicPartition(topic, 0): KOffsetSpec.EARLIEST})
        assert list(earliest.values())[0].offset == 5

        # Without members: the offset goes on its own, then the group.
        assert admin.delete_group_offsets(group, [tp0]) == {tp0: KNoError}
        assert tp0 not in admin.list_group_offsets({group: None})[group]
        assert admin.delete_groups([group]) == {group: "OK"}
        assert admin.delete_groups([group]) == {group: "GroupIdNotFoundError"}
        assert group not in [g["group_id"] for g in admin.list_groups()]
    finally:
        admin.close()
    # Every version kafka-python asks for is served: no connection or admin warning. (Its
    # consumer's range assignor may warn that the first assignment ran before metadata.)
    warnings = [f"{r.name}: {r.getMessage()}" for r in caplog.records
                if r.levelno >= logging.WARNING and not r.name.startswith("kafka.coordinator.assignors")]
    assert warnings == []


# --- kafkajs (node) -----------------------------------------------------------------------


def require_tool(tool):
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is not installed (CI installs it in .ci/run; locally: apt-get install {tool})")
    return path


def test_kafkajs_admin(server):
    node = require_tool("node")
    if not (JS / "node_modules" / "kafkajs").exists():
        npm = require_tool("npm")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=JS, check=True, capture_output=True, timeout=300)
    topic, group = name("js"), name("jsg")
    run = subprocess.run([node, str(JS / "admin.js"), server.kafka, topic, group],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["created"] is True
    committed = out["committed"][0]["partitions"][0]
    assert (committed["partition"], committed["offset"]) == (0, "7")
    assert group in [g["groupId"] for g in out["listed"]]
    assert out["described"][0]["groupId"] == group and out["described"][0]["state"] == "Empty"
    assert out["partitionsAfterGrow"] == 3
    assert out["producedToNewPartition"][0]["partition"] == 2
    assert read_partition(server, topic, 2, 0, 1) == [(0, b"on-2")]
    assert out["shrink"] == "INVALID_PARTITIONS"
    before = {c["configName"]: c for c in out["configsBefore"]}
    after = {c["configName"]: c for c in out["configsAfter"]}
    assert before["retention.ms"]["configValue"] == str(7 * 24 * 3600 * 1000)
    assert after["retention.ms"]["configValue"] == "3600000"
    low = {p["partition"]: p for p in out["offsetsAfterDelete"]}
    assert (low[0]["low"], low[0]["high"]) == ("4", "10")
    assert out["deleted"][0]["errorCode"] == 0
    assert group not in [g["groupId"] for g in out["listedAfterDelete"]]
    # The effect, seen by another client: records below 4 are gone, the group's offsets too.
    assert read_partition(server, topic, 0, 4, 6) == [(i, f"v{i}".encode()) for i in range(4, 10)]
    fresh = Consumer({"bootstrap.servers": server.kafka, "group.id": group})
    try:
        assert fresh.committed([TopicPartition(topic, 0)], timeout=10)[0].offset < 0
    finally:
        fresh.close()


# --- kcat ---------------------------------------------------------------------------------


def test_kcat_lists_topics_and_consumes_from_the_log_start(server):
    kcat = require_tool("kcat")
    topic = create_raw_topic(server, partitions=2)
    produce(server, topic, [f"c{i}".encode() for i in range(6)])
    admin = confluent_admin(server)
    list(admin.delete_records([TopicPartition(topic, 0, 2)]).values())[0].result(10)
    listing = subprocess.run([kcat, "-b", server.kafka, "-L", "-J", "-t", topic],
                             capture_output=True, text=True, timeout=30)
    assert listing.returncode == 0, listing.stderr
    meta = json.loads(listing.stdout)
    assert [b["id"] for b in meta["brokers"]] == [0]
    (t,) = [t for t in meta["topics"] if t["topic"] == topic]
    assert sorted(p["partition"] for p in t["partitions"]) == [0, 1]
    consumed = subprocess.run([kcat, "-b", server.kafka, "-C", "-t", topic, "-p", "0", "-o", "beginning", "-e",
                               "-f", "%o:%s\n"], capture_output=True, text=True, timeout=30)
    assert consumed.returncode == 0, consumed.stderr
    assert consumed.stdout.split() == [f"{i}:c{i}" for i in range(2, 6)]
