"""Byte equality of ``#[derive(Avro)]`` encodings with fastavro.

The Rust test ``samples_round_trip_and_are_written_for_the_fastavro_oracle``
(``tests/derive.rs``) encodes fixed sample values of derived types and, when
``RUNNEL_DERIVE_SAMPLES`` names a file, writes one JSON line per sample: the
derived schema, the datum in fastavro's terms, and the hex of the derived
encoding. Here fastavro's ``schemaless_writer`` encodes the same datum under
the same schema, and the bytes must be identical; fastavro must also read the
derived bytes back to the datum.

Run: ``.venv/bin/python -m pytest tests/oracle/test_derive_bytes.py`` (it runs
``cargo test`` itself; set ``RUNNEL_DERIVE_SAMPLES_FROM`` to a file written
earlier to skip that).
"""

import decimal
import io
import json
import os
import subprocess
import tempfile
from pathlib import Path

import fastavro
import pytest

REPO = Path(__file__).resolve().parents[2]


def load_samples():
    ready = os.environ.get("RUNNEL_DERIVE_SAMPLES_FROM")
    if ready:
        return Path(ready).read_text().splitlines()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "samples.jsonl"
        subprocess.run(
            ["cargo", "test", "-q", "-p", "runnel", "--test", "derive", "--",
             "--exact", "samples_round_trip_and_are_written_for_the_fastavro_oracle"],
            cwd=REPO, check=True, env={**os.environ, "RUNNEL_DERIVE_SAMPLES": str(out)},
            stdout=subprocess.DEVNULL,
        )
        return out.read_text().splitlines()


SAMPLES = [json.loads(line) for line in load_samples() if line.strip()]


def to_python(v):
    """Turns the sample's markers into the Python values fastavro takes."""
    if isinstance(v, dict):
        if set(v) == {"$bytes"}:
            return bytes.fromhex(v["$bytes"])
        if set(v) == {"$decimal"}:
            return decimal.Decimal(v["$decimal"])
        if set(v) == {"$branch"}:
            name, value = v["$branch"]
            return (name, to_python(value))
        return {k: to_python(x) for k, x in v.items()}
    if isinstance(v, list):
        return [to_python(x) for x in v]
    return v


def test_there_are_samples():
    assert len(SAMPLES) >= 3


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s["schema"].get("name", "?") if isinstance(s["schema"], dict) else "?")
def test_derived_bytes_equal_fastavro_bytes(sample):
    schema = fastavro.parse_schema(sample["schema"])
    datum = to_python(sample["datum"])
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, datum)
    assert buf.getvalue().hex() == sample["hex"]


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda s: s["schema"].get("name", "?") if isinstance(s["schema"], dict) else "?")
def test_fastavro_reads_derived_bytes_back(sample):
    schema = fastavro.parse_schema(sample["schema"])
    back = fastavro.schemaless_reader(io.BytesIO(bytes.fromhex(sample["hex"])), schema)
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, schema, back)
    assert buf.getvalue().hex() == sample["hex"]
