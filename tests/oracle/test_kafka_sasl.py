"""Runnel's Kafka listener over SASL_SSL with a real Kafka client nobody here wrote.

confluent-kafka (librdkafka, bundled in the wheel) against the real ``runnel serve``
binary (``RUNNEL_BIN``, default ``target/debug/runnel``) with ``--auth-secret-file`` and
``--tls-cert``/``--tls-key`` (a CA and a server certificate made with ``openssl`` for
the test), tokens from ``runnel token create``:

- SASL/OAUTHBEARER (the token from an ``oauth_cb``) as a tenant's principal: produce and
  consume (a consumer group) under the tenant's own names; only its topics are listed;
- SASL/PLAIN (any username, the token as the password) as a superuser, with the explicit
  ``__T.N.X`` names and the bare ``public/default`` ones;
- a token signed with another secret, by either mechanism: refused with librdkafka's
  authentication error carrying the broker's reason.

Run: ``.venv/bin/python -m pytest tests/oracle/test_kafka_sasl.py`` after
``cargo build -p runnel-cli``. The server comes from conftest.py.
"""

import subprocess
import time
import uuid
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
from confluent_kafka.admin import AdminClient

from conftest import RunnelServer, runnel_bin

SECRET = "an HS256 secret for the SASL oracle, 32+ bytes"


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def certificates(d: Path):
    """A CA and a server certificate for 127.0.0.1/localhost signed by it: (ca, cert, key)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=runnel-test-ca",
            cwd=d)
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost", cwd=d)
    (d / "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                               "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return d / "ca.pem", d / "server.pem", d / "server.key"


def make_token(secret_file, subject, *roles):
    grants = [arg for role in roles for arg in ("--role", role)]
    out = subprocess.run([runnel_bin(), "token", "create", "--subject", subject, *grants, "--expires", "10m",
                          "--secret-file", str(secret_file)], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


class Secured:
    """A ``runnel serve`` with authentication and TLS on, set up by its superuser."""

    def __init__(self, tmp: Path):
        self.dir = tmp
        self.secret = tmp / "secret"
        self.secret.write_text(SECRET)
        self.ca, cert, key = certificates(tmp)
        self.server = RunnelServer("--auth-secret-file", str(self.secret), "--tls-cert", str(cert),
                                   "--tls-key", str(key), kafka=True)
        self.root = make_token(self.secret, "root", "superuser")
        other = tmp / "other-secret"
        other.write_text("a different secret of another server, 32+ bytes")
        self.foreign = make_token(other, "root", "superuser")

    def cli(self, *args, token=None):
        cmd = [runnel_bin(), "--url", self.server.grpc_url, "--registry-url", self.server.registry_url,
               "--ca-cert", str(self.ca), "--token", token or self.root, *args]
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, f"{' '.join(args)} failed: {out.stderr}"
        return out.stdout

    def kafka(self, mechanism, token, **extra):
        """confluent-kafka settings for SASL_SSL with `token` by `mechanism`."""
        conf = {
            "bootstrap.servers": self.server.kafka,
            "security.protocol": "SASL_SSL",
            "ssl.ca.location": str(self.ca),
            "sasl.mechanisms": mechanism,
            **extra,
        }
        if mechanism == "PLAIN":
            conf.update({"sasl.username": "anyone", "sasl.password": token})
        else:
            # librdkafka asks for the token (and when it expires) through the callback.
            conf["oauth_cb"] = lambda _config: (token, time.time() + 600, "runnel-principal", {})
        return conf


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    s = Secured(tmp_path_factory.mktemp("sasl"))
    suffix = uuid.uuid4().hex[:6]
    s.tenant, s.other = f"acme{suffix}", f"beta{suffix}"
    s.cli("tenant", "create", s.tenant)
    s.cli("namespace", "create", f"{s.tenant}/default")
    s.cli("topic", "create", f"{s.tenant}/default/orders", "--partitions", "2", "--validation", "none")
    s.cli("tenant", "create", f"beta{suffix}")
    s.cli("namespace", "create", f"beta{suffix}/default")
    s.cli("topic", "create", f"beta{suffix}/default/orders", "--validation", "none")
    s.cli("topic", "create", "events", "--validation", "none")
    yield s
    s.server.stop()


def produce(conf, topic, values):
    errors = []
    p = Producer({**conf, "acks": "all", "compression.type": "none", "enable.idempotence": True})
    for v in values:
        p.produce(topic, value=v, on_delivery=lambda err, _msg: err and errors.append(err))
    left = p.flush(30)
    assert left == 0 and not errors, (left, errors)


def consume(conf, topic, group, n):
    c = Consumer({**conf, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    got = []
    deadline = time.time() + 30
    try:
        while len(got) < n and time.time() < deadline:
            m = c.poll(1.0)
            if m is None:
                continue
            assert m.error() is None, m.error()
            got.append(m.value())
        c.commit(asynchronous=False)
    finally:
        c.close()
    return got


def test_oauthbearer_tenant_produces_and_consumes_under_its_own_names(secured):
    t = secured.tenant
    token = make_token(secured.secret, "acme-app", f"produce:{t}/*/*", f"consume:{t}/*/*")
    conf = secured.kafka("OAUTHBEARER", token)

    listed = AdminClient(conf).list_topics(timeout=20).topics
    assert sorted(listed) == ["orders"], "a tenant's principal sees its own topics, by its own names"

    values = [f"order-{i}".encode() for i in range(20)]
    produce(conf, "orders", values)
    got = consume(conf, "orders", "billing", len(values))
    assert sorted(got) == sorted(values)


def test_plain_superuser_uses_explicit_and_bare_names(secured):
    conf = secured.kafka("PLAIN", secured.root)
    listed = AdminClient(conf).list_topics(timeout=20).topics
    assert f"__{secured.tenant}.default.orders" in listed and "events" in listed, sorted(listed)

    values = [f"event-{i}".encode() for i in range(5)]
    produce(conf, "events", values)
    assert sorted(consume(conf, "events", "audit", len(values))) == sorted(values)
    produce(conf, f"__{secured.tenant}.default.orders", [b"from-root"])


@pytest.mark.parametrize("mechanism", ["PLAIN", "OAUTHBEARER"])
def test_a_token_of_another_server_is_refused(secured, mechanism):
    errors = []
    # librdkafka reports the failure through error_cb, served by poll(); its own log lines
    # (it retries with backoff) are quietened.
    conf = secured.kafka(mechanism, secured.foreign, error_cb=errors.append, log_level=0,
                         **{"reconnect.backoff.ms": 1000})
    p = Producer(conf)
    deadline = time.time() + 20
    while time.time() < deadline and not any(e.code() == KafkaError._AUTHENTICATION for e in errors):
        p.poll(0.2)
    auth = [e for e in errors if e.code() == KafkaError._AUTHENTICATION]
    assert auth, f"no authentication error among {errors}"
    assert "invalid token" in auth[0].str() and "signature" in auth[0].str(), auth[0].str()
    with pytest.raises(KafkaException):
        AdminClient({k: v for k, v in conf.items() if k != "error_cb"}).list_topics(timeout=3)


def test_a_principal_cannot_reach_another_tenants_topic(secured):
    # Grants in two tenants: the global view, where beta's topic can be named and is refused.
    token = make_token(secured.secret, "two-tenants", f"produce:{secured.tenant}/*/*", "produce:public/default/events")
    errors = []
    p = Producer({**secured.kafka("PLAIN", token), "compression.type": "none", "message.timeout.ms": 20000})
    p.produce(f"__{secured.other}.default.orders", value=b"x", on_delivery=lambda err, _m: errors.append(err))
    p.flush(25)
    assert len(errors) == 1 and errors[0] is not None, errors
    assert errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors[0]
