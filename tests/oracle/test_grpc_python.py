"""The broker's gRPC API as a client nobody here wrote speaks it: Python's grpcio
(Google's gRPC core in C), with stubs compiled from ``runnel.proto`` by grpcio-tools,
and record batches built by kafka-python's RecordBatch v2 builder.

The produce stream is read by the broker from the HTTP/2 chunks themselves when a
request is plain gRPC, and by tonic when it is compressed: both ways are driven here,
with batches small and large (grpcio's frames are 16 KiB, so a large batch arrives
in many), with a record the topic's schema refuses, and with a message over the limit.
What is stored is read back with ``Fetch`` and parsed by kafka-python.
"""

import io
import json
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import fastavro
import grpc
import pytest
import requests
from kafka.record.default_records import DefaultRecordBatch, DefaultRecordBatchBuilder

from conftest import REPO, RunnelServer

PROTO_DIR = REPO / "crates" / "proto" / "proto"
SCHEMA = {"type": "record", "name": "Note", "fields": [{"name": "text", "type": "string"}]}


@pytest.fixture(scope="module")
def stubs():
    """runnel_pb2 and runnel_pb2_grpc, compiled now from the project's .proto."""
    out = tempfile.mkdtemp(prefix="runnel-pb2-")
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO_DIR}", f"--python_out={out}",
                    f"--grpc_python_out={out}", "runnel/v1/runnel.proto"], check=True)
    sys.path.insert(0, out)
    try:
        from runnel.v1 import runnel_pb2, runnel_pb2_grpc
    finally:
        sys.path.remove(out)
    return runnel_pb2, runnel_pb2_grpc


@pytest.fixture(scope="module")
def server():
    server = RunnelServer()
    yield server
    server.stop()


def create_topic(server, topic):
    schema = Path(server.data) / f"{topic}.avsc"
    schema.write_text(json.dumps(SCHEMA))
    server.cli("topic", "create", topic, "--partitions", "1", "--schema", str(schema))
    latest = requests.get(f"{server.registry_url}/subjects/{topic}-value/versions/latest", timeout=10)
    latest.raise_for_status()
    return latest.json()["id"]


def value(schema_id, text):
    body = io.BytesIO()
    fastavro.schemaless_writer(body, fastavro.parse_schema(SCHEMA), {"text": text})
    return b"\x00" + struct.pack(">I", schema_id) + body.getvalue()


def batch(values):
    builder = DefaultRecordBatchBuilder(magic=2, compression_type=0, is_transactional=0, producer_id=-1,
                                        producer_epoch=-1, base_sequence=-1, batch_size=1 << 30)
    for offset, v in enumerate(values):
        builder.append(offset, timestamp=None, key=None, value=v, headers=[])
    return bytes(builder.build())


def read_back(pb2, pb2_grpc, channel, topic, end):
    """Every record's offset and value, fetched and parsed by kafka-python."""
    stub = pb2_grpc.BrokerStub(channel)
    records = []
    for response in stub.Fetch(pb2.FetchRequest(topic=topic, partition=0, offset=0, end_offset=end), timeout=30):
        data = response.batches
        while data:
            (length,) = struct.unpack(">i", data[8:12])
            parsed = DefaultRecordBatch(data[:12 + length])
            assert parsed.validate_crc()
            records.extend((r.offset, r.value) for r in parsed)
            data = data[12 + length:]
    return records


@pytest.mark.parametrize("compression", [grpc.Compression.NoCompression, grpc.Compression.Gzip],
                         ids=["plain", "gzip"])
def test_a_produce_stream_from_grpcio_is_stored_refused_and_read_back(stubs, server, compression):
    pb2, pb2_grpc = stubs
    topic = f"notes-{compression.name.lower()}"
    schema_id = create_topic(server, topic)
    small = [value(schema_id, f"note {i}") for i in range(3)]
    # 300 values of 10 KiB: about 3 MiB, in some two hundred of grpcio's frames.
    large = [value(schema_id, chr(ord("a") + i % 26) * 10240) for i in range(300)]
    corrupt = small[:1] + [small[1][:-3]]  # the second record's string is cut short
    requests_sent = [
        pb2.ProduceRequest(correlation_id=1, topic=topic, partition=0, batch=batch(small)),
        pb2.ProduceRequest(correlation_id=2, topic=topic, partition=0, batch=batch(large)),
        pb2.ProduceRequest(correlation_id=3, topic=topic, partition=0, batch=batch(corrupt)),
        pb2.ProduceRequest(correlation_id=4, topic="no-such-topic", partition=0, batch=batch(small)),
    ]
    with grpc.insecure_channel(server.grpc_url.split("://", 1)[-1], compression=compression,
                               options=[("grpc.max_send_message_length", 64 << 20)]) as channel:
        stub = pb2_grpc.BrokerStub(channel)
        answers = {a.correlation_id: a for a in stub.ProduceStream(iter(requests_sent), timeout=60)}
        assert sorted(answers) == [1, 2, 3, 4]
        assert (answers[1].base_offset, answers[1].record_count, answers[1].error.code) == (0, 3, 0)
        assert (answers[2].base_offset, answers[2].record_count, answers[2].error.code) == (3, 300, 0)
        assert answers[3].error.code == pb2.ERROR_CODE_INVALID_RECORD
        assert answers[3].error.record_index == 1
        assert answers[4].error.code == pb2.ERROR_CODE_UNKNOWN_TOPIC

        stored = read_back(pb2, pb2_grpc, channel, topic, 303)
    assert stored == list(enumerate(small + large)), "offsets and bytes as sent, nothing of the refused batch"


def test_a_message_over_the_limit_ends_the_stream_with_out_of_range(stubs, server):
    pb2, pb2_grpc = stubs
    topic = "notes-limit"
    schema_id = create_topic(server, topic)
    ok = pb2.ProduceRequest(correlation_id=1, topic=topic, partition=0, batch=batch([value(schema_id, "fits")]))
    # 65 MiB: over the 64 MiB a message may have.
    huge = pb2.ProduceRequest(correlation_id=2, topic=topic, partition=0, batch=b"\x00" * (65 << 20))
    with grpc.insecure_channel(server.grpc_url.split("://", 1)[-1],
                               options=[("grpc.max_send_message_length", 80 << 20)]) as channel:
        stub = pb2_grpc.BrokerStub(channel)
        answers = []
        with pytest.raises(grpc.RpcError) as refused:
            for answer in stub.ProduceStream(iter([ok, huge]), timeout=60):
                answers.append(answer)
        assert refused.value.code() == grpc.StatusCode.OUT_OF_RANGE, refused.value.details()
        # The request before it was answered, and is stored.
        assert [(a.correlation_id, a.error.code) for a in answers] == [(1, 0)]
        assert read_back(pb2, pb2_grpc, channel, topic, 1) == [(0, value(schema_id, "fits"))]


def test_a_message_that_is_not_a_produce_request_ends_the_stream(stubs, server):
    pb2, pb2_grpc = stubs
    topic = "notes-malformed"
    schema_id = create_topic(server, topic)
    ok = pb2.ProduceRequest(correlation_id=1, topic=topic, partition=0,
                            batch=batch([value(schema_id, "first")])).SerializeToString()
    # Field 4 (the batch) says 127 bytes follow, and none do.
    cut = b"\x22\x7f"
    with grpc.insecure_channel(server.grpc_url.split("://", 1)[-1]) as channel:
        call = channel.stream_stream("/runnel.v1.Broker/ProduceStream", request_serializer=lambda b: b,
                                     response_deserializer=pb2.ProduceResponse.FromString)
        answers = []
        with pytest.raises(grpc.RpcError) as refused:
            for answer in call(iter([ok, cut]), timeout=30):
                answers.append(answer)
        assert refused.value.code() == grpc.StatusCode.INTERNAL, refused.value.details()
        assert "ProduceRequest" in refused.value.details()
        assert [(a.correlation_id, a.error.code) for a in answers] == [(1, 0)]
