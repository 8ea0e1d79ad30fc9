"""`runnel gateway` in front of an engine nobody here wrote (Tansu, Kafka-compatible): records
are checked against Runnel's registry on the way in, refused per partition with INVALID_RECORD,
and clients nobody here wrote (confluent-kafka, kcat) produce and consume through it; a second
gateway carries the clients on when the first is killed. docs/scale-out.md says what this shows."""

import io
import json
import shutil
import struct
import subprocess
import tempfile
import time
import uuid

import fastavro
import pytest
import requests
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from conftest import Gateway, RunnelServer

USER = {"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}]}
OTHER = {"type": "record", "name": "Other", "fields": [{"name": "x", "type": "long"}]}


@pytest.fixture(scope="module")
def registry():
    server = RunnelServer(registry_only=True)
    yield server.registry_url
    server.stop()


def register(registry, subject, schema):
    r = requests.post(f"{registry}/subjects/{subject}/versions", json={"schema": json.dumps(schema)}, timeout=10)
    r.raise_for_status()
    return r.json()["id"]


def framed(schema_id, schema, datum):
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(schema), datum)
    return b"\0" + struct.pack(">I", schema_id) + out.getvalue()


def new_topic(bootstrap, registry):
    topic = "users-" + uuid.uuid4().hex[:8]
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        f.result(15)
    return topic, register(registry, f"{topic}-value", USER)


def produce(bootstrap, topic, values):
    """Produces each value in its own request; returns each one's error (None: acknowledged)."""
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0, "message.send.max.retries": 0})
    results = []
    for v in values:
        got = []
        p.produce(topic, value=v, on_delivery=lambda err, msg: got.append(err))
        p.flush(15)
        assert got, "no delivery report"
        results.append(got[0])
    return results


def consume(bootstrap, topic, count, seconds=40, group=True):
    """Reads `count` values from partition 0: as a group member, or assigned (no group)."""
    # A short rebalance timeout (librdkafka sends max.poll.interval.ms): Tansu's first join of a new
    # group waits for it (docs/scale-out.md).
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "g-" + uuid.uuid4().hex[:6],
                  "auto.offset.reset": "earliest", "enable.auto.commit": False,
                  "session.timeout.ms": 6000, "max.poll.interval.ms": 6000})
    if group:
        c.subscribe([topic])
    else:
        c.assign([TopicPartition(topic, 0, 0)])
    started = time.time()
    values, deadline = [], time.time() + seconds
    while len(values) < count and time.time() < deadline:
        m = c.poll(0.5)
        if m is not None and not m.error():
            values.append(m.value())
    print(f"consumed {len(values)} from {topic} via {bootstrap} in {time.time() - started:.1f} s (group={group})")
    c.close()
    return values


def test_refuses_a_foreign_id_and_a_corrupt_body_and_passes_good_records(tansu, registry, gateway):
    topic, user_id = new_topic(gateway.addr, registry)
    other_id = register(registry, f"other-{topic}-value", OTHER)
    good = framed(user_id, USER, {"name": "ada", "age": 36})
    foreign = framed(other_id, OTHER, {"x": 1})
    corrupt = b"\0" + struct.pack(">I", user_id) + b"\x80\x80\x80"  # a string length that never ends
    unframed = b'{"name": "ada"}'
    errors = produce(gateway.addr, topic, [good, foreign, corrupt, unframed, good])
    assert errors[0] is None and errors[4] is None, errors
    for err in errors[1:4]:
        assert err is not None and err.code() == KafkaError.INVALID_RECORD, errors
    # Only the good records reached the engine: read from Tansu directly, not through the gateway.
    assert consume(tansu.bootstrap, topic, 2, group=False) == [good, good]
    # And a group consumer reads them through the gateway.
    assert consume(gateway.addr, topic, 2) == [good, good]


def test_metadata_names_the_gateway_as_every_broker(tansu, gateway):
    md = AdminClient({"bootstrap.servers": gateway.addr}).list_topics(timeout=10)
    assert {f"{b.host}:{b.port}" for b in md.brokers.values()} == {gateway.addr}


def test_kcat_produces_and_consumes_through_the_gateway(tansu, registry, gateway):
    kcat = shutil.which("kcat")
    assert kcat, "kcat is missing (scripts/test.sh installs it)"
    topic, user_id = new_topic(gateway.addr, registry)
    with tempfile.TemporaryDirectory() as d:
        good, bad = f"{d}/good", f"{d}/bad"
        with open(good, "wb") as f:
            f.write(framed(user_id, USER, {"name": "kat", "age": 3}))
        with open(bad, "wb") as f:
            f.write(b"not avro at all")
        # Each file is one message.
        ok = subprocess.run([kcat, "-b", gateway.addr, "-P", "-t", topic, good], capture_output=True, timeout=30)
        assert ok.returncode == 0, ok.stderr
        refused = subprocess.run([kcat, "-b", gateway.addr, "-P", "-t", topic, bad], capture_output=True, text=True,
                                 timeout=30)
        # librdkafka's text for INVALID_RECORD.
        assert refused.returncode != 0 and "failed to validate record" in refused.stderr, refused.stderr
    out = subprocess.run([kcat, "-b", gateway.addr, "-C", "-t", topic, "-o", "beginning", "-e", "-f", "%S\n"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    sizes = [line for line in out.stdout.split("\n") if line]
    assert sizes == [str(len(framed(user_id, USER, {"name": "kat", "age": 3})))], out.stdout


def test_clients_carry_on_through_a_second_gateway_when_the_first_is_killed(tansu, registry):
    first, second = Gateway(tansu.bootstrap, registry), Gateway(tansu.bootstrap, registry)
    assert first.addr and second.addr
    topic, user_id = new_topic(first.addr, registry)
    p = Producer({"bootstrap.servers": f"{first.addr},{second.addr}", "linger.ms": 0,
                  "message.timeout.ms": 30000})
    delivered = []
    for i in range(5):
        p.produce(topic, value=framed(user_id, USER, {"name": f"a{i}", "age": i}),
                  on_delivery=lambda err, msg: delivered.append(err))
    p.flush(15)
    first.kill()
    for i in range(5, 10):
        p.produce(topic, value=framed(user_id, USER, {"name": f"a{i}", "age": i}),
                  on_delivery=lambda err, msg: delivered.append(err))
    p.flush(40)
    second_alive = second.proc.poll() is None
    try:
        assert delivered == [None] * 10, delivered
        assert len(consume(second.addr, topic, 10, group=False)) == 10
    finally:
        second.kill()
    assert second_alive


def test_refuses_to_start_in_front_of_nothing_or_a_foreign_protocol(registry):
    nothing = Gateway("127.0.0.1:1", registry)
    assert nothing.addr is None and "cannot connect to 127.0.0.1:1" in nothing.error, nothing.error
    http = registry.split("://", 1)[1].rstrip("/")
    foreign = Gateway(http, registry)
    assert foreign.addr is None and "does not speak the Kafka protocol" in foreign.error, foreign.error


def test_refuses_compressed_batches_and_holds_records_while_the_registry_is_down(tansu, registry, gateway):
    topic, user_id = new_topic(gateway.addr, registry)
    good = framed(user_id, USER, {"name": "zip", "age": 1})
    # Compressed batches cannot be checked without unpacking them; refused as Runnel's broker refuses them.
    p = Producer({"bootstrap.servers": gateway.addr, "compression.type": "gzip", "message.send.max.retries": 0})
    got = []
    # librdkafka sends a batch uncompressed when compressing does not shrink it: a long, repetitive name.
    p.produce(topic, value=framed(user_id, USER, {"name": "z" * 5000, "age": 1}),
              on_delivery=lambda err, msg: got.append(err))
    p.flush(15)
    assert got and got[0] is not None and got[0].code() == 76, got  # UNSUPPORTED_COMPRESSION_TYPE
    # A registry that does not answer: records are not passed unchecked but refused as retriable.
    from conftest import free_port
    blind = Gateway(tansu.bootstrap, f"http://127.0.0.1:{free_port()}")
    try:
        assert blind.addr, blind.error
        errors = produce(blind.addr, topic, [good])
        # REQUEST_TIMED_OUT is retriable in Kafka's protocol: a producer with retries tries again.
        assert errors[0] is not None and errors[0].code() == KafkaError.REQUEST_TIMED_OUT, errors
    finally:
        blind.kill()
    assert consume(tansu.bootstrap, topic, 1, seconds=3, group=False) == []


# --- The client side secured as Runnel's own Kafka listener is: TLS, SASL with Runnel tokens, grants per topic.
# Topic names are the cluster's own; for grants a bare name `t` is `public/default/t`, as on the broker.


class SecuredGateway:
    """A gateway with --auth-secret-file and --tls-cert/--tls-key in front of plaintext Tansu."""

    def __init__(self, tmp, tansu, registry):
        from test_kafka_sasl import SECRET, certificates
        self.secret = tmp / "secret"
        self.secret.write_text(SECRET)
        self.ca, cert, key = certificates(tmp)
        self.gw = Gateway(tansu.bootstrap, registry, "--auth-secret-file", str(self.secret), "--tls-cert", str(cert),
                          "--tls-key", str(key))
        assert self.gw.addr, self.gw.error
        other = tmp / "other-secret"
        other.write_text("a different secret of another server, 32+ bytes")
        self.foreign_secret = other

    def token(self, subject, *roles, secret=None):
        from test_kafka_sasl import make_token
        return make_token(secret or self.secret, subject, *roles)

    def conf(self, mechanism, token, **extra):
        conf = {"bootstrap.servers": self.gw.addr, "security.protocol": "SASL_SSL", "ssl.ca.location": str(self.ca),
                "sasl.mechanisms": mechanism, **extra}
        if mechanism == "PLAIN":
            conf.update({"sasl.username": "anyone", "sasl.password": token})
        else:
            conf["oauth_cb"] = lambda _config: (token, time.time() + 600, "runnel-principal", {})
        return conf


@pytest.fixture(scope="module")
def secured(tmp_path_factory, tansu, registry):
    s = SecuredGateway(tmp_path_factory.mktemp("gw-sasl"), tansu, registry)
    yield s
    s.gw.kill()


def produce_with(conf, topic, values):
    """As `produce`, with client settings."""
    p = Producer({**conf, "linger.ms": 0, "message.send.max.retries": 0, "message.timeout.ms": 15000})
    results = []
    for v in values:
        got = []
        p.produce(topic, value=v, on_delivery=lambda err, msg: got.append(err))
        p.flush(20)
        assert got, "no delivery report"
        results.append(got[0])
    return results


@pytest.mark.parametrize("mechanism", ["OAUTHBEARER", "PLAIN"])
def test_sasl_ssl_clients_produce_and_consume_through_a_secured_gateway(tansu, registry, secured, mechanism):
    topic, user_id = new_topic(tansu.bootstrap, registry)
    token = secured.token("app", f"produce:public/default/{topic}", f"consume:public/default/{topic}")
    conf = secured.conf(mechanism, token)
    good = framed(user_id, USER, {"name": "sec", "age": 7})
    errors = produce_with(conf, topic, [good, b"not avro", good])
    assert errors[0] is None and errors[2] is None, errors
    # Records are still checked behind SASL.
    assert errors[1] is not None and errors[1].code() == KafkaError.INVALID_RECORD, errors
    # A short rebalance timeout (librdkafka sends max.poll.interval.ms): Tansu's first join of a new
    # group waits for it (docs/scale-out.md).
    c = Consumer({**conf, "group.id": "g-" + uuid.uuid4().hex[:6], "auto.offset.reset": "earliest",
                  "enable.auto.commit": False, "session.timeout.ms": 6000, "max.poll.interval.ms": 6000})
    c.subscribe([topic])
    got, deadline = [], time.time() + 25
    try:
        while len(got) < 2 and time.time() < deadline:
            m = c.poll(0.5)
            if m is not None:
                assert m.error() is None, m.error()
                got.append(m.value())
    finally:
        c.close()
    assert got == [good, good]


@pytest.mark.parametrize("mechanism", ["PLAIN", "OAUTHBEARER"])
def test_a_secured_gateway_refuses_a_wrong_token_and_a_plaintext_client(tansu, secured, mechanism):
    errors = []
    foreign = secured.token("root", "superuser", secret=secured.foreign_secret)
    p = Producer(secured.conf(mechanism, foreign, error_cb=errors.append, log_level=0,
                              **{"reconnect.backoff.ms": 1000}))
    deadline = time.time() + 15
    while time.time() < deadline and not any(e.code() == KafkaError._AUTHENTICATION for e in errors):
        p.poll(0.2)
    auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
    assert auth, f"no authentication error among {errors}"
    assert "invalid token" in auth[0].str() and "signature" in auth[0].str(), auth[0].str()
    # A client that skips SASL (TLS only) has its connection closed at its first request, as a
    # Kafka broker's SASL listener does; one that skips TLS too fails its handshake.
    for skipping in ({"security.protocol": "SSL", "ssl.ca.location": str(secured.ca)}, {}):
        with pytest.raises(KafkaException):
            AdminClient({"bootstrap.servers": secured.gw.addr, "log_level": 0, **skipping}).list_topics(timeout=3)


def test_a_secured_gateway_refuses_topics_outside_the_tokens_grants(tansu, registry, secured):
    topic, user_id = new_topic(tansu.bootstrap, registry)
    good = framed(user_id, USER, {"name": "no", "age": 1})
    # May consume the topic, not produce to it.
    reader = secured.conf("PLAIN", secured.token("reader", f"consume:public/default/{topic}"))
    errors = produce_with(reader, topic, [good])
    assert errors[0] is not None and errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors
    assert consume(tansu.bootstrap, topic, 1, seconds=2, group=False) == [], "nothing reached the engine"
    # May produce, not consume: the fetch is refused per partition.
    writer = secured.conf("OAUTHBEARER", secured.token("writer", f"produce:public/default/{topic}"))
    assert produce_with(writer, topic, [good]) == [None]
    c = Consumer({**writer, "group.id": "g-" + uuid.uuid4().hex[:6], "auto.offset.reset": "earliest"})
    c.assign([TopicPartition(topic, 0, 0)])
    seen, deadline = [], time.time() + 15
    try:
        while time.time() < deadline and not seen:
            m = c.poll(0.5)
            if m is not None:
                seen.append(m.error().code() if m.error() else m.value())
    finally:
        c.close()
    assert seen == [KafkaError.TOPIC_AUTHORIZATION_FAILED], seen


def test_a_secured_gateway_lists_only_granted_topics_and_refuses_admin_requests(tansu, registry, secured):
    mine, _ = new_topic(tansu.bootstrap, registry)
    other, _ = new_topic(tansu.bootstrap, registry)
    conf = secured.conf("PLAIN", secured.token("app", f"produce:public/default/{mine}", f"consume:public/default/{mine}"))
    admin = AdminClient(conf)
    listed = set(admin.list_topics(timeout=15).topics)
    assert mine in listed and other not in listed, listed
    # Deleting a topic needs more than produce and consume grants: the gateway refuses the
    # request (closing the connection), and the topic stays on the engine.
    futures = admin.delete_topics([mine], operation_timeout=5, request_timeout=5)
    with pytest.raises(KafkaException):
        futures[mine].result(timeout=20)
    assert mine in AdminClient({"bootstrap.servers": tansu.bootstrap}).list_topics(timeout=15).topics
