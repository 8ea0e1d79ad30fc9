"""Confluent's own Python client against Runnel's schema registry.

confluent-kafka's `SchemaRegistryClient` registers, looks up, evolves, checks
and is refused by a registry started by this test from the real binary
(`RUNNEL_BIN`, default `target/debug/runnel`): `runnel serve` when the binary
has it, else (or with `RUNNEL_ORACLE_SERVER=registry-serve`) the registry alone
(`runnel registry-serve`). Then the wire
format both ways: `AvroSerializer` output decodes with `runnel avro decode`
after the 5-byte frame is stripped, and `AvroDeserializer` reads a record
encoded by `runnel avro encode` and framed with the registry's id. A schema
registered pretty-printed comes back compact, as Confluent returns it (Avro's
Java `Schema.toString()`).

Needs: pip install "confluent-kafka[avro]==2.16.0" avro fastavro pytest requests
"""

import json
import os
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import requests
from avro.schema import parse as parse_avro
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer
from confluent_kafka.schema_registry.error import SchemaRegistryError
from confluent_kafka.serialization import MessageField, SerializationContext

REPO = Path(__file__).resolve().parents[2]

USER_V1 = {
    "type": "record",
    "name": "User",
    "namespace": "com.example",
    "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}],
}
# Adds an optional field with a default: compatible both ways.
USER_V2 = {
    **USER_V1,
    "fields": USER_V1["fields"] + [{"name": "email", "type": ["null", "string"], "default": None}],
}
# Adds a required field: new readers cannot read old data (not BACKWARD).
USER_BAD = {**USER_V1, "fields": USER_V1["fields"] + [{"name": "country", "type": "string"}]}


def runnel_bin():
    path = os.environ.get("RUNNEL_BIN") or str(REPO / "target" / "debug" / "runnel")
    if not Path(path).exists():
        pytest.fail(f"the runnel binary is missing at {path}: run `cargo build -p runnel-cli` or set RUNNEL_BIN")
    return path


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def has_subcommand(name):
    out = subprocess.run([runnel_bin(), name, "--help"], capture_output=True, text=True, timeout=30)
    return out.returncode == 0


@pytest.fixture(scope="module")
def registry_url():
    data = tempfile.mkdtemp(prefix="runnel-registry-")
    http = f"127.0.0.1:{free_port()}"
    # RUNNEL_ORACLE_SERVER=registry-serve tests the registry alone even when `serve` exists.
    if os.environ.get("RUNNEL_ORACLE_SERVER", "serve") == "serve" and has_subcommand("serve"):
        cmd = [runnel_bin(), "serve", "--data", data, "--grpc", f"127.0.0.1:{free_port()}", "--http", http,
               "--kafka", "none"]
    else:
        cmd = [runnel_bin(), "registry-serve", "--data", data, "--http", http]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://{http}"
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"{url}/subjects", timeout=1).status_code == 200:
                break
        except requests.ConnectionError:
            pass
        if proc.poll() is not None:
            pytest.fail(f"the registry exited: {proc.stderr.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the registry did not start within 30 s")
        time.sleep(0.05)
    yield url
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture
def client(registry_url):
    return SchemaRegistryClient({"url": registry_url})


def avro(schema):
    return Schema(json.dumps(schema), "AVRO")


def test_registers_looks_up_and_evolves(client):
    subject = "evolve-value"
    id1 = client.register_schema(subject, avro(USER_V1))
    assert client.register_schema(subject, avro(USER_V1)) == id1

    found = client.lookup_schema(subject, avro(USER_V1))
    assert (found.schema_id, found.version, found.subject) == (id1, 1, subject)

    id2 = client.register_schema(subject, avro(USER_V2))
    assert id2 != id1
    latest = client.get_latest_version(subject)
    assert (latest.schema_id, latest.version) == (id2, 2)
    assert json.loads(latest.schema.schema_str) == USER_V2
    assert client.get_versions(subject) == [1, 2]
    assert subject in client.get_subjects()
    assert json.loads(client.get_schema(id1).schema_str) == USER_V1
    assert client.get_version(subject, 1).schema_id == id1

    # The same schema under another subject has the same id.
    assert client.register_schema("other-value", avro(USER_V1)) == id1


def test_checks_compatibility_and_config(client):
    subject = "check-value"
    client.register_schema(subject, avro(USER_V1))
    assert client.test_compatibility(subject, avro(USER_V2)) is True
    assert client.test_compatibility(subject, avro(USER_BAD)) is False

    client.set_compatibility(subject, "FORWARD")
    assert client.get_compatibility(subject) == "FORWARD"
    # Under FORWARD, old readers ignore the new required field.
    assert client.test_compatibility(subject, avro(USER_BAD)) is True
    client.set_compatibility(subject, "BACKWARD")


def test_refusals_carry_confluent_error_codes(client):
    subject = "refuse-value"
    client.register_schema(subject, avro(USER_V1))

    with pytest.raises(SchemaRegistryError) as e:
        client.register_schema(subject, avro(USER_BAD))
    assert (e.value.http_status_code, e.value.error_code) == (409, 409)
    assert "/fields/2" in e.value.error_message

    with pytest.raises(SchemaRegistryError) as e:
        client.register_schema(subject, Schema('{"type": "record", "name": "X"}', "AVRO"))
    assert (e.value.http_status_code, e.value.error_code) == (422, 42201)

    with pytest.raises(SchemaRegistryError) as e:
        client.get_latest_version("no-such-subject")
    assert (e.value.http_status_code, e.value.error_code) == (404, 40401)

    with pytest.raises(SchemaRegistryError) as e:
        client.get_schema(987654)
    assert (e.value.http_status_code, e.value.error_code) == (404, 40403)

    assert client.get_versions(subject) == [1], "refused registrations stored nothing"

    # Soft delete then permanent delete, in Confluent's order.
    assert client.delete_subject(subject) == [1]
    assert client.delete_subject(subject, permanent=True) == [1]


def write(tmp_path, name, schema):
    path = tmp_path / name
    path.write_text(json.dumps(schema))
    return str(path)


def test_avro_serializer_output_decodes_with_runnel(client, tmp_path):
    topic = "wire-out"
    serializer = AvroSerializer(client, json.dumps(USER_V2), conf={"auto.register.schemas": True})
    record = {"name": "Ann", "age": 37, "email": "ann@example.com"}
    framed = serializer(record, SerializationContext(topic, MessageField.VALUE))

    assert framed[0] == 0, "magic byte"
    schema_id = int.from_bytes(framed[1:5], "big")
    assert client.lookup_schema(f"{topic}-value", avro(USER_V2)).schema_id == schema_id

    out = subprocess.run(
        [runnel_bin(), "avro", "decode", "--schema", write(tmp_path, "user.avsc", USER_V2)],
        input=framed[5:].hex() + "\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    decoded = json.loads(out.stdout.strip())
    assert decoded == {"name": "Ann", "age": 37, "email": {"string": "ann@example.com"}}


def test_avro_deserializer_reads_a_runnel_framed_record(client, tmp_path):
    subject = "wire-in-value"
    schema_id = client.register_schema(subject, avro(USER_V2))
    datum = {"name": "Bo", "age": 5, "email": None}
    out = subprocess.run(
        [runnel_bin(), "avro", "encode", "--schema", write(tmp_path, "user.avsc", USER_V2)],
        input=json.dumps(datum) + "\n",
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 0, out.stderr
    framed = b"\x00" + schema_id.to_bytes(4, "big") + bytes.fromhex(out.stdout.strip())

    deserializer = AvroDeserializer(client)
    value = deserializer(framed, SerializationContext("wire-in", MessageField.VALUE))
    assert value == datum


def runnel_schema(registry_url, *args):
    return subprocess.run(
        [runnel_bin(), "--registry-url", registry_url, "schema", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_runnel_schema_cli_registers_checks_and_explains_refusals(client, registry_url, tmp_path):
    subject = "cli-value"
    v1, v2, bad = (write(tmp_path, f"{n}.avsc", s) for n, s in [("v1", USER_V1), ("v2", USER_V2), ("bad", USER_BAD)])

    out = runnel_schema(registry_url, "register", subject, v1, "--output", "json")
    assert out.returncode == 0, out.stderr
    registered = json.loads(out.stdout)
    assert registered["version"] == 1
    assert client.get_latest_version(subject).schema_id == registered["id"], "the Confluent client sees it"

    out = runnel_schema(registry_url, "check", subject, bad)
    assert out.returncode == 1
    assert "/fields/2" in out.stdout and "country" in out.stdout

    out = runnel_schema(registry_url, "register", subject, bad)
    assert out.returncode != 0
    assert "/fields/2" in out.stderr and "409" in out.stderr
    assert len(out.stderr.strip().splitlines()) == 1, "one-line error"

    assert runnel_schema(registry_url, "check", subject, v2).returncode == 0
    assert runnel_schema(registry_url, "register", subject, v2).returncode == 0
    out = runnel_schema(registry_url, "versions", subject, "--output", "json")
    assert json.loads(out.stdout) == [1, 2]
    out = runnel_schema(registry_url, "get", subject, "--version", "1")
    assert json.loads(out.stdout) == USER_V1


def test_contexts_keep_two_tenants_subjects_apart(client):
    # Confluent's qualified subjects `:.ctx:name`: each tenant's context has its own `users-value`.
    acme = client.register_schema(":.acme:users-value", avro(USER_V1))
    globex = client.register_schema(":.globex:users-value", avro(USER_BAD))
    assert acme != globex
    assert client.get_versions(":.acme:users-value") == [1]
    assert client.get_versions(":.globex:users-value") == [1]
    latest = client.get_latest_version(":.globex:users-value")
    assert json.loads(latest.schema.schema_str) == USER_BAD
    # acme's subject keeps its own rule: globex's schema would not be a compatible next version.
    assert client.test_compatibility(":.acme:users-value", avro(USER_BAD)) is False
    assert {".", ".acme", ".globex"} <= set(client.get_contexts())
    assert {":.acme:users-value", ":.globex:users-value"} <= set(client.get_subjects())


# A schema as a person writes it: pretty-printed, keys in any order, with docs, defaults,
# aliases, a logical type and custom properties.
PRETTY_ORDER = """{
    "namespace": "com.example",
    "type": "record",
    "name": "Order",
    "doc": "An order.",
    "fields": [
        {"type": "string", "name": "id", "doc": "Order id", "x-pii": false},
        {"name": "placed", "type": {"logicalType": "timestamp-millis", "type": "long"}},
        {"default": 1, "name": "quantity", "type": {"type": "int"}, "aliases": ["qty"]},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "DONE"], "default": "NEW"}},
        {"name": "previous", "type": ["null", "com.example.Status"], "default": null}
    ],
    "aliases": ["com.example.Purchase"],
    "owner": "shop"
}"""

# The same document as Avro's Java Schema.toString() writes it: keys in Java's order (type,
# name, namespace, doc, fields/symbols/items/values/size, then properties, then aliases; a
# field: name, type, doc, default, order, aliases, properties), names short in their namespace.
JAVA_ORDER = {
    "type": "record",
    "name": "Order",
    "namespace": "com.example",
    "doc": "An order.",
    "fields": [
        {"name": "id", "type": "string", "doc": "Order id", "x-pii": False},
        {"name": "placed", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "quantity", "type": "int", "default": 1, "aliases": ["qty"]},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "DONE"], "default": "NEW"}},
        {"name": "previous", "type": ["null", "Status"], "default": None},
    ],
    "owner": "shop",
    "aliases": ["Purchase"],
}


def test_schema_text_comes_back_compact_as_confluent_returns_it(client, registry_url):
    schema_id = client.register_schema("compact-value", Schema(PRETTY_ORDER, "AVRO"))
    compact = json.dumps(JAVA_ORDER, separators=(",", ":"))

    # A fresh client: nothing cached from the registration, the text is the server's.
    fresh = SchemaRegistryClient({"url": registry_url})
    returned = fresh.get_schema(schema_id).schema_str
    assert returned == compact
    assert fresh.get_latest_version("compact-value").schema.schema_str == compact
    assert requests.get(f"{registry_url}/schemas/ids/{schema_id}/schema").text == compact
    # The official avro package reads the returned text as the schema that was registered.
    assert parse_avro(returned).canonical_form == parse_avro(PRETTY_ORDER).canonical_form

    # Whitespace is not a new schema: the compact text is the same id and version.
    assert client.register_schema("compact-value", Schema(compact, "AVRO")) == schema_id
    found = fresh.lookup_schema("compact-value", Schema(PRETTY_ORDER, "AVRO"))
    assert (found.schema_id, found.version) == (schema_id, 1)
