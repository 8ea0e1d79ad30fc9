"""`runnel produce` and `runnel consume` with `--kafka BOOTSTRAP`, against Tansu (a Kafka-compatible
broker nobody here wrote), with the schema registry itself on a Kafka topic
(`runnel registry serve --kafka`): directly to the engine, and through `runnel gateway`.

The records the CLI writes are read back by confluent-kafka and decoded with fastavro (bytes in the
Confluent wire format under the registered id), and records confluent-kafka writes are printed by
`runnel consume` as Avro-JSON; the gateway refuses what the CLI sends under a foreign schema id and
the CLI says why; bad setups (an unknown topic, an unreachable cluster, a subscription over Kafka)
are clear errors.
"""

import io
import json
import struct
import subprocess
import uuid

import fastavro
import pytest
import requests
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import free_port, runnel_bin
from test_kafka_sasl import Secured
from test_registry_kafka import Instance

# Tansu 0.6 answers ListOffsets(latest) with the last batch's base offset + 1, not its last offset + 1
# (its Fetch high watermark is right; docs/scale-out.md). `--exit-at-end` takes the end from ListOffsets,
# as on Apache Kafka, so where it follows a write here, that write is one record per batch.
ONE_PER_BATCH = ["--kafka-property", "batch.num.messages=1"]

USER = {"type": "record", "name": "User",
        "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}]}
OTHER = {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "long"}]}


@pytest.fixture(scope="module")
def registry(tansu):
    """The registry on a `_schemas` topic of the engine."""
    instance = Instance(tansu.bootstrap, "_schemas-" + uuid.uuid4().hex[:6])
    assert instance.url, instance.output()
    yield instance.url
    instance.stop()


def runnel(registry, *args, stdin=None, timeout=120):
    return subprocess.run([runnel_bin(), "--registry-url", registry, *args], input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def register(registry, subject, schema):
    r = requests.post(f"{registry}/subjects/{subject}/versions", json={"schema": json.dumps(schema)}, timeout=10)
    r.raise_for_status()
    return r.json()["id"]


def new_topic(tansu, registry, partitions=1):
    topic = "cli-" + uuid.uuid4().hex[:8]
    admin = AdminClient({"bootstrap.servers": tansu.bootstrap})
    for f in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        f.result(15)
    return topic, register(registry, f"{topic}-value", USER)


def read_back(bootstrap, topic, count, partitions=1):
    """`count` raw records of `topic`, read by confluent-kafka without a group."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "unused-" + uuid.uuid4().hex[:6],
                  "enable.auto.commit": False})
    c.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    out = []
    for _ in range(120):
        if len(out) >= count:
            break
        m = c.poll(0.5)
        if m is not None and not m.error():
            out.append(m)
    c.close()
    return out


def decode(value):
    assert value[0] == 0
    schema_id = struct.unpack(">I", value[1:5])[0]
    return schema_id, fastavro.schemaless_reader(io.BytesIO(value[5:]), fastavro.parse_schema(USER))


def lines(stdout):
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def test_produce_to_the_engine_is_read_by_confluent_kafka(tansu, registry):
    topic, schema_id = new_topic(tansu, registry)
    data = "".join(json.dumps({"name": f"user-{i}", "age": i}) + "\n" for i in range(50))
    out = runnel(registry, "--output", "json", "produce", topic, "--kafka", tansu.bootstrap, "--key-field", "name",
                 stdin=data)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout)
    assert summary["count"] == 50 and summary["schema_id"] == schema_id
    assert summary["partitions"] == [{"partition": 0, "count": 50, "first_offset": 0, "last_offset": 49}]
    got = read_back(tansu.bootstrap, topic, 50)
    assert [m.offset() for m in got] == list(range(50))
    assert [decode(m.value()) for m in got] == [(schema_id, {"name": f"user-{i}", "age": i}) for i in range(50)]
    assert [m.key() for m in got] == [f"user-{i}".encode() for i in range(50)]


def test_consume_prints_records_confluent_kafka_wrote_and_stops_at_the_end(tansu, registry):
    topic, schema_id = new_topic(tansu, registry, partitions=2)
    p = Producer({"bootstrap.servers": tansu.bootstrap, "batch.num.messages": 1})
    for i in range(20):
        out = io.BytesIO()
        fastavro.schemaless_writer(out, fastavro.parse_schema(USER), {"name": f"n{i}", "age": i})
        p.produce(topic, value=b"\0" + struct.pack(">I", schema_id) + out.getvalue(), key=f"k{i}",
                  partition=i % 2)
    assert p.flush(15) == 0
    got = runnel(registry, "consume", topic, "--kafka", tansu.bootstrap, "--exit-at-end")
    assert got.returncode == 0, got.stderr
    records = lines(got.stdout)
    assert sorted((r["partition"], r["offset"]) for r in records) == sorted((i % 2, i // 2) for i in range(20))
    assert {r["schema_id"] for r in records} == {schema_id}
    assert sorted(r["value"]["age"] for r in records) == list(range(20))
    assert {r["key"] for r in records} == {f"k{i}" for i in range(20)}

    # One partition, from an offset; and an empty read of a caught-up position ends too.
    part = lines(runnel(registry, "consume", topic, "--kafka", tansu.bootstrap, "--partition", "1", "--from", "7",
                        "--exit-at-end").stdout)
    assert [(r["partition"], r["offset"]) for r in part] == [(1, 7), (1, 8), (1, 9)]
    latest = runnel(registry, "consume", topic, "--kafka", tansu.bootstrap, "--from", "latest", "--exit-at-end")
    assert latest.returncode == 0 and latest.stdout == "", latest.stderr


def test_a_group_resumes_where_it_committed(tansu, registry):
    topic, _ = new_topic(tansu, registry)
    data = "".join(json.dumps({"name": f"g{i}", "age": i}) + "\n" for i in range(10))
    assert runnel(registry, "produce", topic, "--kafka", tansu.bootstrap, stdin=data).returncode == 0
    group = "cli-group-" + uuid.uuid4().hex[:6]
    # Tansu's first join of a new group waits for the rebalance timeout (docs/scale-out.md): a short one.
    fast = ["--kafka-property", "max.poll.interval.ms=6000", "--kafka-property", "session.timeout.ms=6000"]
    first = runnel(registry, "consume", topic, "--kafka", tansu.bootstrap, "--group", group, "--max", "4", *fast)
    assert first.returncode == 0, first.stderr
    assert [r["offset"] for r in lines(first.stdout)] == [0, 1, 2, 3]
    second = runnel(registry, "consume", topic, "--kafka", tansu.bootstrap, "--group", group, "--max", "6", *fast)
    assert second.returncode == 0, second.stderr
    assert [r["value"]["name"] for r in lines(second.stdout)] == [f"g{i}" for i in range(4, 10)]


def test_through_the_gateway_a_foreign_id_is_refused_and_good_records_pass(tansu, registry, gateway):
    topic, schema_id = new_topic(tansu, registry)
    other_id = register(registry, "other-" + uuid.uuid4().hex[:6] + "-value", OTHER)
    good = runnel(registry, "produce", topic, "--kafka", gateway.addr, *ONE_PER_BATCH,
                  stdin='{"name": "ada", "age": 36}\n{"name": "bob", "age": 41}\n')
    assert good.returncode == 0, good.stderr
    assert "produced 2 records" in good.stdout and f"schema id {schema_id}" in good.stdout
    # A datum of another subject's schema, under its id: the gateway refuses the record with
    # INVALID_RECORD (librdkafka passes the code on, not the gateway's reason, which the gateway logs).
    bad = runnel(registry, "produce", topic, "--kafka", gateway.addr, "--schema-id", str(other_id),
                 stdin='{"x": 5}\n')
    assert bad.returncode != 0
    assert "line 1" in bad.stderr and "InvalidRecord" in bad.stderr and topic in bad.stderr, bad.stderr
    # Through the gateway the consumer sees the two good records, nothing of the refused one.
    got = runnel(registry, "consume", topic, "--kafka", gateway.addr, "--exit-at-end")
    assert got.returncode == 0, got.stderr
    assert [r["value"] for r in lines(got.stdout)] == [{"name": "ada", "age": 36}, {"name": "bob", "age": 41}]


def test_bad_setups_are_clear_errors(tansu, registry):
    # A consumer's metadata request creates nothing (a producer's may, where the cluster
    # auto-creates topics, as Tansu does).
    unknown = runnel(registry, "consume", "no-such-" + uuid.uuid4().hex[:6], "--kafka", tansu.bootstrap,
                     "--exit-at-end")
    assert unknown.returncode != 0 and "unknown topic" in unknown.stderr.lower(), unknown.stderr
    topic, _ = new_topic(tansu, registry)
    nobody = f"127.0.0.1:{free_port()}"
    down = runnel(registry, "consume", topic, "--kafka", nobody, "--exit-at-end",
                  "--kafka-property", "socket.connection.setup.timeout.ms=1000")
    assert down.returncode != 0 and nobody in down.stderr, down.stderr
    sub = runnel(registry, "consume", topic, "--kafka", tansu.bootstrap, "--subscription", "s")
    assert sub.returncode != 0 and "subscription" in sub.stderr, sub.stderr
    no_schema = "bare-" + uuid.uuid4().hex[:6]
    admin = AdminClient({"bootstrap.servers": tansu.bootstrap})
    for f in admin.create_topics([NewTopic(no_schema, 1, 1)]).values():
        f.result(15)
    missing = runnel(registry, "produce", no_schema, "--kafka", tansu.bootstrap, stdin='{"name": "a", "age": 1}\n')
    assert missing.returncode != 0 and f"{no_schema}-value" in missing.stderr, missing.stderr


def test_over_sasl_ssl_to_runnels_own_kafka_listener(tmp_path):
    """TLS to the cluster and to the registry, SASL/PLAIN with a token: `--ca-cert` is trusted by
    both (librdkafka's `ssl.ca.location` unless a property names another), `--token` goes to the
    registry, the SASL settings are librdkafka properties."""
    secured = Secured(tmp_path)
    try:
        topic = "tls-" + uuid.uuid4().hex[:6]
        secured.cli("topic", "create", topic, "--partitions", "1")
        (tmp_path / "user.avsc").write_text(json.dumps(USER))
        secured.cli("schema", "register", f"{topic}-value", str(tmp_path / "user.avsc"))
        sasl = ["--kafka", secured.server.kafka, "--kafka-property", "security.protocol=SASL_SSL",
                "--kafka-property", "sasl.mechanism=PLAIN", "--kafka-property", "sasl.username=cli"]
        base = [runnel_bin(), "--registry-url", secured.server.registry_url, "--ca-cert", str(secured.ca),
                "--token", secured.root]

        def run(*args, token=secured.root, stdin=None):
            return subprocess.run([*base, *args, "--kafka-property", f"sasl.password={token}"], input=stdin,
                                  capture_output=True, text=True, timeout=120)

        out = run("produce", topic, *sasl, stdin='{"name": "tls", "age": 1}\n{"name": "sasl", "age": 2}\n')
        assert out.returncode == 0, out.stderr
        got = run("consume", topic, *sasl, "--exit-at-end")
        assert got.returncode == 0, got.stderr
        assert [r["value"]["name"] for r in lines(got.stdout)] == ["tls", "sasl"]
        refused = run("consume", topic, *sasl, "--exit-at-end", "--kafka-property", "socket.timeout.ms=5000",
                      token=secured.foreign)
        assert refused.returncode != 0 and "auth" in refused.stderr.lower(), refused.stderr
    finally:
        secured.server.stop()
