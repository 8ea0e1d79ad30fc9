#!/usr/bin/env python3
"""Produce throughput through `runnel gateway` (full validation) as a ratio of producing to the
engine directly, in the same run: Tansu (memory storage) as the engine, a `runnel registry-serve`
as the registry, one confluent-kafka producer (batched, acks=1) writing framed Avro records.

    cargo build --release -p runnel-gateway --example gateway
    RUNNEL_BIN=target/debug/runnel GATEWAY_BIN=target/release/examples/gateway \
        .venv/bin/python scripts/bench-gateway.py [RECORDS]

(GATEWAY_BIN: the gateway alone, built in release without the rest of `runnel`; without it the
gateway is `$RUNNEL_BIN gateway`, which should then be a release build.)

Prints records/s for each path and the ratio (goal >= 0.7). Each path is run twice, alternately,
and the better run of each is kept (the machine is shared)."""

import io
import os
import json
import struct
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "oracle"))

import fastavro  # noqa: E402
import requests  # noqa: E402
from confluent_kafka import Producer  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402

import conftest  # noqa: E402
from conftest import Gateway, RunnelServer, Tansu  # noqa: E402

USER = {"type": "record", "name": "User", "fields": [{"name": "name", "type": "string"}, {"name": "age", "type": "int"}]}


def run(bootstrap, topic, values):
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "batch.num.messages": 10000,
                  "queue.buffering.max.messages": 1000000, "acks": 1})
    failed = []
    start = time.perf_counter()
    for v in values:
        while True:
            try:
                p.produce(topic, value=v, on_delivery=lambda err, msg: err and failed.append(err))
                break
            except BufferError:
                p.poll(0.01)
    p.flush(120)
    elapsed = time.perf_counter() - start
    assert not failed, failed[:3]
    return len(values) / elapsed


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200_000
    tansu = Tansu()
    registry = RunnelServer(registry_only=True)
    if os.environ.get("GATEWAY_BIN"):
        conftest.runnel_bin = lambda: os.environ["GATEWAY_BIN"]
    gateway = Gateway(tansu.bootstrap, registry.registry_url)
    try:
        assert gateway.addr, gateway.error
        topic = "bench-" + uuid.uuid4().hex[:8]
        admin = AdminClient({"bootstrap.servers": tansu.bootstrap})
        for f in admin.create_topics([NewTopic(topic, 1, 1)]).values():
            f.result(15)
        r = requests.post(f"{registry.registry_url}/subjects/{topic}-value/versions", json={"schema": json.dumps(USER)})
        r.raise_for_status()
        framing = b"\0" + struct.pack(">I", r.json()["id"])
        parsed = fastavro.parse_schema(USER)
        values = []
        for i in range(n):
            out = io.BytesIO()
            fastavro.schemaless_writer(out, parsed, {"name": f"user-{i:08d}-" + "x" * 60, "age": i % 100})
            values.append(framing + out.getvalue())
        direct, through = [], []
        for _ in range(2):
            direct.append(run(tansu.bootstrap, topic, values))
            through.append(run(gateway.addr, topic, values))
        d, g = max(direct), max(through)
        print(f"records: {n} of {len(values[0])} bytes")
        print(f"direct to the engine:           {d:>10.0f} records/s  (runs: {', '.join(f'{x:.0f}' for x in direct)})")
        print(f"through the gateway, full check: {g:>10.0f} records/s  (runs: {', '.join(f'{x:.0f}' for x in through)})")
        print(f"ratio: {g / d:.2f}x (goal >= 0.7x)")
    finally:
        gateway.kill()
        registry.stop()
        tansu.stop()


if __name__ == "__main__":
    main()
