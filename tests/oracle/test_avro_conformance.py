"""Conformance of Runnel's Avro core against implementations nobody here wrote.

For every type and edge case of the Avro specification, fastavro
(``schemaless_writer``) and the official ``avro`` package (``BinaryEncoder``)
produce the bytes of a datum, and fastavro's ``json_writer`` its Avro-JSON.
The real ``runnel`` binary (``RUNNEL_BIN``, default ``target/debug/runnel``)
must then:

- ``avro encode``: turn that Avro-JSON into exactly those bytes (NaN and the
  infinities as fastavro writes them, bare ``NaN``/``Infinity``/``-Infinity``
  tokens, and as Avro Java and avro-tools write them, the strings);
- ``avro decode``: turn those bytes into Avro-JSON that fastavro's
  ``json_reader`` reads back to the same datum (and re-encodes to the same bytes),
  with NaN and the infinities as the strings, so that the output stays JSON;
- decode bytes written in several blocks, with negative counts and byte sizes,
  which fastavro also reads;
- ``avro fingerprint``: print the Parsing Canonical Form and CRC-64-AVRO and
  SHA-256 fingerprints that fastavro computes (and the official package, where
  its canonical form follows the specification; see ``test_canonical_form``).

Run: ``.venv/bin/python -m pytest tests/oracle`` after ``cargo build -p runnel-cli``.
"""

import datetime
import decimal
import io
import json
import math
import os
import struct
import subprocess
import tempfile
from pathlib import Path

import avro.io
import avro.schema
import fastavro
import pytest
from fastavro.schema import fingerprint, to_parsing_canonical_form

REPO = Path(__file__).resolve().parents[2]
RUNNEL = os.environ.get("RUNNEL_BIN", str(REPO / "target" / "debug" / "runnel"))

UTC = datetime.timezone.utc
NAN, INF = float("nan"), float("inf")

# (id, schema, datums in the Python form both libraries write[, their Avro-JSON
# written out by hand where fastavro's json_writer fails: recursive schemas])
CASES = [
    ("null", "null", [None]),
    ("boolean", "boolean", [True, False]),
    ("int", "int", [0, 1, -1, 63, -64, 64, -65, 2**31 - 1, -(2**31)]),
    ("long", "long", [0, 2**63 - 1, -(2**63), 2**31, -(2**31) - 1, 2**53 + 1]),
    ("float", "float", [0.0, -0.0, 1.5, 0.1, 3.4028234663852886e38, 1.401298464324817e-45, NAN, INF, -INF]),
    ("double", "double", [0.0, -0.0, 0.1, 1e308, 5e-324, -2.5e-300, NAN, INF, -INF]),
    ("bytes", "bytes", [b"", b"\x00\xff\x80", bytes(range(256))]),
    (
        "string",
        "string",
        ["", "ascii", "héllo wörld", "日本語", "emoji 🎉", 'quote " backslash \\ newline \n tab \t', "\x00\x7f"],
    ),
    ("fixed", {"type": "fixed", "name": "Four", "size": 4}, [b"\x00\x01\xfe\xff", b"abcd"]),
    ("fixed-empty", {"type": "fixed", "name": "Zero", "size": 0}, [b""]),
    ("enum", {"type": "enum", "name": "Suit", "symbols": ["SPADES", "HEARTS", "DIAMONDS", "CLUBS"]}, ["SPADES", "CLUBS"]),
    (
        "enum-default",
        {"type": "enum", "name": "E", "namespace": "x.y", "symbols": ["A", "B"], "default": "A"},
        ["B"],
    ),
    ("union-null-first", ["null", "string"], [None, "x", ""]),
    ("union-null-last", ["string", "null"], ["x", None]),
    (
        "union-many",
        [
            "null",
            "boolean",
            "int",
            "double",
            "string",
            "bytes",
            {"type": "record", "name": "P", "namespace": "u", "fields": [{"name": "p", "type": "int"}]},
            {"type": "array", "items": "long"},
        ],
        # No True: the official package writes a Python bool as its double branch.
        [None, 7, 2.5, "s", b"\x01", {"p": 1}, [1, 2]],
    ),
    ("array", {"type": "array", "items": "int"}, [[], [1], list(range(-300, 300, 7))]),
    ("array-of-arrays", {"type": "array", "items": {"type": "array", "items": "string"}}, [[[], ["a", "b"], ["c"]]]),
    # No "" key: fastavro's json_writer fails on it ("No key was set"); Rust tests cover it.
    ("map", {"type": "map", "values": "long"}, [{}, {"a": 1, "ünï": 2**40, "b": -1}]),
    ("map-of-unions", {"type": "map", "values": ["null", "double"]}, [{"x": None, "y": 1.25}]),
    (
        "nested-records",
        {
            "type": "record",
            "name": "Outer",
            "namespace": "com.example",
            "doc": "docs are not part of the canonical form",
            "fields": [
                {"name": "id", "type": "long", "doc": "an id"},
                {
                    "name": "inner",
                    "type": {
                        "type": "record",
                        "name": "Inner",
                        "fields": [
                            {"name": "s", "type": "string"},
                            {"name": "e", "type": {"type": "enum", "name": "Color", "namespace": "other", "symbols": ["R", "G"]}},
                        ],
                    },
                },
                {"name": "again", "type": ["null", "Inner"], "default": None},
                {"name": "color", "type": "other.Color"},
                {"name": "list", "type": {"type": "array", "items": "com.example.Inner"}},
            ],
        },
        [
            {
                "id": -5,
                "inner": {"s": "a", "e": "G"},
                "again": {"s": "b", "e": "R"},
                "color": "R",
                "list": [{"s": "", "e": "R"}],
            },
            {"id": 0, "inner": {"s": "", "e": "R"}, "again": None, "color": "G", "list": []},
        ],
    ),
    (
        "namespace-reset",
        {
            "type": "record",
            "name": "A",
            "namespace": "x",
            "fields": [
                {"name": "b", "type": {"type": "record", "name": "B", "namespace": "", "fields": [{"name": "i", "type": "int"}]}},
                {"name": "c", "type": ["null", {"type": "enum", "name": "y.C", "symbols": ["K"]}, {"type": "fixed", "name": "D", "size": 1}]},
            ],
        },
        [{"b": {"i": 1}, "c": None}, {"b": {"i": 2}, "c": "K"}, {"b": {"i": 3}, "c": b"z"}],
    ),
    (
        "recursive",
        {
            "type": "record",
            "name": "LinkedList",
            "fields": [{"name": "value", "type": "int"}, {"name": "next", "type": ["null", "LinkedList"]}],
        },
        [{"value": 1, "next": {"value": 2, "next": {"value": 3, "next": None}}}, {"value": 0, "next": None}],
        [
            '{"value": 1, "next": {"LinkedList": {"value": 2, "next": {"LinkedList": {"value": 3, "next": null}}}}}',
            '{"value": 0, "next": null}',
        ],
    ),
    (
        "tree",
        {
            "type": "record",
            "name": "Tree",
            "namespace": "t",
            "fields": [
                {"name": "label", "type": "string"},
                {"name": "children", "type": {"type": "array", "items": "Tree"}},
                {"name": "attrs", "type": {"type": "map", "values": "t.Tree"}},
            ],
        },
        [{"label": "root", "children": [{"label": "a", "children": [], "attrs": {}}], "attrs": {"k": {"label": "b", "children": [], "attrs": {}}}}],
        [
            '{"label": "root", "children": [{"label": "a", "children": [], "attrs": {}}], '
            '"attrs": {"k": {"label": "b", "children": [], "attrs": {}}}}'
        ],
    ),
    (
        "decimal-bytes",
        {"type": "bytes", "logicalType": "decimal", "precision": 20, "scale": 2},
        [decimal.Decimal("0.00"), decimal.Decimal("-1.25"), decimal.Decimal("1.28"), decimal.Decimal("-1.28"), decimal.Decimal("123456789012345678.90")],
    ),
    (
        "decimal-fixed",
        {"type": "fixed", "name": "Money", "size": 8, "logicalType": "decimal", "precision": 18, "scale": 4},
        [decimal.Decimal("0.0000"), decimal.Decimal("-1.0000"), decimal.Decimal("99999999999999.9999")],
    ),
    ("uuid", {"type": "string", "logicalType": "uuid"}, ["123e4567-e89b-12d3-a456-426614174000", "00000000-0000-0000-0000-000000000000"]),
    ("date", {"type": "int", "logicalType": "date"}, [datetime.date(1970, 1, 1), datetime.date(2024, 2, 29), datetime.date(1, 1, 1)]),
    ("time-millis", {"type": "int", "logicalType": "time-millis"}, [datetime.time(0, 0), datetime.time(23, 59, 59, 999000)]),
    ("time-micros", {"type": "long", "logicalType": "time-micros"}, [datetime.time(12, 30, 1, 123456)]),
    (
        "timestamp-millis",
        {"type": "long", "logicalType": "timestamp-millis"},
        [datetime.datetime(2020, 1, 1, tzinfo=UTC), datetime.datetime(1960, 6, 1, 12, 0, 0, 5000, tzinfo=UTC)],
    ),
    (
        "timestamp-micros",
        {"type": "long", "logicalType": "timestamp-micros"},
        [datetime.datetime(2038, 1, 19, 3, 14, 8, 1, tzinfo=UTC)],
    ),
    (
        "local-timestamp-millis",
        {"type": "long", "logicalType": "local-timestamp-millis"},
        [datetime.datetime(2020, 1, 1, 8, 30)],
    ),
    (
        "local-timestamp-micros",
        {"type": "long", "logicalType": "local-timestamp-micros"},
        [datetime.datetime(2020, 1, 1, 8, 30, 0, 17)],
    ),
    (
        "duration",
        {"type": "fixed", "name": "Dur", "size": 12, "logicalType": "duration"},
        [struct.pack("<III", 1, 2, 3), struct.pack("<III", 2**32 - 1, 0, 86_400_000)],
    ),
    (
        "logical-in-union",
        ["null", {"type": "long", "logicalType": "timestamp-millis"}, {"type": "string", "logicalType": "uuid"}],
        [None, datetime.datetime(2021, 5, 5, tzinfo=UTC), "00000000-0000-0000-0000-000000000001"],
    ),
    (
        "user",
        {
            "type": "record",
            "name": "User",
            "namespace": "com.example",
            "fields": [
                {"name": "id", "type": "long"},
                {"name": "name", "type": "string"},
                {"name": "email", "type": "string"},
                {"name": "age", "type": "int"},
                {"name": "active", "type": "boolean"},
                {"name": "score", "type": "double"},
                {"name": "tags", "type": {"type": "array", "items": "string"}},
                {"name": "manager", "type": ["null", "string"], "default": None},
            ],
        },
        [
            {
                "id": 42,
                "name": "Ada Lovelace",
                "email": "ada@example.com",
                "age": 36,
                "active": True,
                "score": 99.5,
                "tags": ["math", "engines"],
                "manager": None,
            }
        ],
    ),
]

# Cases the official package cannot write as the datum says; fastavro still checks them.
AVRO_PACKAGE_SKIPS = {
    # Its writer lacks these logical types.
    "local-timestamp-millis",
    "local-timestamp-micros",
    "duration",
    # It picks a union branch by its own preference (an int goes to the double branch).
    "union-many",
}


def runnel(args, stdin=""):
    return subprocess.run([RUNNEL, *args], input=stdin, capture_output=True, text=True, timeout=60)


def out_lines(text):
    """Lines split on \n only (str.splitlines also splits on U+0085 and U+2028,
    which Avro-JSON strings of bytes may hold)."""
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


def case_params():
    return [pytest.param(c[0], c[1], c[2], c[3] if len(c) > 3 else None, id=c[0]) for c in CASES]


@pytest.fixture(scope="module")
def schema_dir():
    with tempfile.TemporaryDirectory() as d:
        yield Path(d)


def schema_file(schema_dir, case_id, schema):
    path = schema_dir / f"{case_id}.avsc"
    path.write_text(json.dumps(schema))
    return str(path)


def fastavro_bytes(parsed, datum):
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, parsed, datum)
    return buf.getvalue()


def avro_package_bytes(schema, datum):
    buf = io.BytesIO()
    avro.io.DatumWriter(avro.schema.parse(json.dumps(schema))).write(datum, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def avro_json_lines(parsed, datums):
    """fastavro's Avro-JSON, as it writes it (NaN and the infinities as bare tokens)."""
    out = io.StringIO()
    fastavro.json_writer(out, parsed, datums)
    return [line for line in out.getvalue().splitlines() if line]


def non_finite_as_strings(v):
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, list):
        return [non_finite_as_strings(x) for x in v]
    if isinstance(v, dict):
        return {k: non_finite_as_strings(x) for k, x in v.items()}
    return v


def branch_key(branch):
    if isinstance(branch, str):
        return branch
    if branch["type"] in ("record", "enum", "fixed"):
        return branch["name"]
    return branch["type"]


def strings_as_floats(schema, value, named):
    """The inverse of non_finite_as_strings, guided by the schema (so that a
    string datum "NaN" stays a string)."""
    if isinstance(schema, list):
        if value is None:
            return None
        ((key, inner),) = value.items()
        branch = next(b for b in schema if branch_key(b) == key)
        return {key: strings_as_floats(branch, inner, named)}
    if isinstance(schema, str):
        if schema in named:
            return strings_as_floats(named[schema], value, named)
        kind = schema
    else:
        kind = schema["type"]
    if kind in ("float", "double"):
        return float(value) if isinstance(value, str) else value
    if kind == "record":
        return {f["name"]: strings_as_floats(f["type"], value[f["name"]], named) for f in schema["fields"]}
    if kind == "array":
        return [strings_as_floats(schema["items"], x, named) for x in value]
    if kind == "map":
        return {k: strings_as_floats(schema["values"], x, named) for k, x in value.items()}
    return value


def same(a, b):
    """Equality where NaN equals NaN and -0.0 differs from 0.0."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


@pytest.mark.parametrize("case_id,schema,datums,hand_json", case_params())
def test_encode_gives_the_oracles_bytes(schema_dir, case_id, schema, datums, hand_json):
    parsed = fastavro.parse_schema(schema)
    expected = [fastavro_bytes(parsed, d) for d in datums]
    if case_id not in AVRO_PACKAGE_SKIPS:
        assert [avro_package_bytes(schema, d) for d in datums] == expected, "the two oracles disagree"
    lines = hand_json or avro_json_lines(parsed, datums)
    proc = runnel(["avro", "encode", "--schema", schema_file(schema_dir, case_id, schema)], "\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr
    # A datum of zero bytes (null, an empty fixed) prints an empty line.
    assert out_lines(proc.stdout) == [b.hex() for b in expected]


@pytest.mark.parametrize("case_id,schema,datums,hand_json", case_params())
def test_decode_gives_the_oracles_datum(schema_dir, case_id, schema, datums, hand_json):
    named = {}
    parsed = fastavro.parse_schema(schema, named_schemas=named)
    originals = [fastavro_bytes(parsed, d) for d in datums]
    # A datum of zero bytes would be a blank line, which `decode` skips by contract.
    kept = [i for i, b in enumerate(originals) if b]
    if not kept:
        pytest.skip("every datum encodes to zero bytes")
    stdin = "\n".join(originals[i].hex() for i in kept) + "\n"
    proc = runnel(["avro", "decode", "--schema", schema_file(schema_dir, case_id, schema)], stdin)
    assert proc.returncode == 0, proc.stderr
    lines = out_lines(proc.stdout)
    assert len(lines) == len(kept)
    if hand_json:
        # fastavro's json_reader cannot read recursive schemas: compare with the Avro-JSON written out.
        assert [json.loads(line) for line in lines] == [json.loads(hand_json[i]) for i in kept]
    for line, original in zip(lines, [originals[i] for i in kept]):
        if hand_json:
            continue
        # fastavro reads Runnel's Avro-JSON to the datum it reads from the bytes ...
        value = strings_as_floats(parsed, json.loads(line), named)
        (from_json,) = list(fastavro.json_reader(io.StringIO(json.dumps(value)), parsed))
        from_bytes = fastavro.schemaless_reader(io.BytesIO(original), parsed, None)
        assert same(from_json, from_bytes), (from_json, from_bytes)
        # ... and writes it back to the same bytes.
        assert fastavro_bytes(parsed, from_json) == original
        if case_id not in AVRO_PACKAGE_SKIPS:
            reader = avro.io.DatumReader(avro.schema.parse(json.dumps(schema)))
            assert avro_package_bytes(schema, reader.read(avro.io.BinaryDecoder(io.BytesIO(original)))) == original


def zigzag(n):
    z = (n << 1) ^ (n >> 63)
    out = bytearray()
    while z >= 0x80:
        out.append((z & 0x7F) | 0x80)
        z >>= 7
    out.append(z)
    return bytes(out)


NON_FINITE = {
    "type": "record",
    "name": "Floats",
    "fields": [
        {"name": "d", "type": "double"},
        {"name": "f", "type": "float"},
        {"name": "ds", "type": {"type": "array", "items": "double"}},
        {"name": "fs", "type": {"type": "map", "values": "float"}},
        {"name": "maybe", "type": ["null", "double"]},
    ],
}
NON_FINITE_DATUMS = [
    {"d": NAN, "f": INF, "ds": [INF, -INF, NAN, 0.5], "fs": {"k": -INF, "j": NAN}, "maybe": -INF},
    {"d": -INF, "f": NAN, "ds": [], "fs": {}, "maybe": NAN},
    {"d": INF, "f": -INF, "ds": [-0.0], "fs": {"z": 1.5}, "maybe": None},
]


def strict_json(line):
    """``line`` parsed as JSON proper: a bare NaN or Infinity fails."""
    def refuse(token):
        raise ValueError(f"{token} is not JSON")

    return json.loads(line, parse_constant=refuse)


def test_nan_and_infinities_round_trip_with_fastavro_bare_or_quoted(schema_dir):
    parsed = fastavro.parse_schema(NON_FINITE)
    expected = [fastavro_bytes(parsed, d).hex() for d in NON_FINITE_DATUMS]
    path = schema_file(schema_dir, "non-finite", NON_FINITE)
    # fastavro's json_writer (Python's json) writes bare tokens, which are not JSON.
    bare = avro_json_lines(parsed, NON_FINITE_DATUMS)
    assert "-Infinity" in bare[0] and '"NaN"' not in bare[0]
    proc = runnel(["avro", "encode", "--schema", path], "\n".join(bare) + "\n")
    assert proc.returncode == 0, proc.stderr
    assert out_lines(proc.stdout) == expected
    # Avro Java's JsonEncoder and avro-tools write the strings: the same bytes.
    quoted = [json.dumps(non_finite_as_strings(json.loads(line))) for line in bare]
    proc = runnel(["avro", "encode", "--schema", path], "\n".join(quoted) + "\n")
    assert proc.returncode == 0, proc.stderr
    assert out_lines(proc.stdout) == expected
    # Decoded, they are the strings: JSON still, as Jackson writes and reads them.
    proc = runnel(["avro", "decode", "--schema", path], "\n".join(expected) + "\n")
    assert proc.returncode == 0, proc.stderr
    decoded = [strict_json(line) for line in out_lines(proc.stdout)]
    assert decoded == [json.loads(line) for line in quoted]
    # fastavro reads them (as the floats the strings name) to the same bytes.
    named = {}
    fastavro.parse_schema(NON_FINITE, named_schemas=named)
    back = [strings_as_floats(NON_FINITE, value, named) for value in decoded]
    from_json = list(fastavro.json_reader(io.StringIO("\n".join(json.dumps(v) for v in back)), parsed))
    assert [fastavro_bytes(parsed, d).hex() for d in from_json] == expected
    assert all(same(a, b) for a, b in zip(from_json, NON_FINITE_DATUMS))


def test_bare_nan_outside_a_float_or_double_is_refused(schema_dir):
    path = schema_file(schema_dir, "string-field", {"type": "record", "name": "S", "fields": [
        {"name": "s", "type": "string"}]})
    proc = runnel(["avro", "encode", "--schema", path], '{"s": "NaN"}\n{"s": NaN}\n')
    assert proc.returncode != 0
    assert out_lines(proc.stdout) == ["064e614e"]
    assert "line 2" in proc.stderr and "/s" in proc.stderr and "float or double" in proc.stderr


def test_blocks_with_negative_counts_and_sizes_decode_as_fastavro_reads_them(schema_dir):
    # array<int> [1, 2, 3, 4] as: 2 items; -1 item of 1 byte with its size; 1 item; end.
    items = [zigzag(i) for i in (1, 2, 3, 4)]
    array_bytes = zigzag(2) + items[0] + items[1] + zigzag(-1) + zigzag(1) + items[2] + zigzag(1) + items[3] + zigzag(0)
    # map<string> {"a": "x", "b": "yy"} as one block of -2 with its size, then end.
    body = zigzag(1) + b"a" + zigzag(1) + b"x" + zigzag(1) + b"b" + zigzag(2) + b"yy"
    map_bytes = zigzag(-2) + zigzag(len(body)) + body + zigzag(0)
    for case_id, schema, data, expected in [
        ("blocks-array", {"type": "array", "items": "int"}, array_bytes, [1, 2, 3, 4]),
        ("blocks-map", {"type": "map", "values": "string"}, map_bytes, {"a": "x", "b": "yy"}),
    ]:
        parsed = fastavro.parse_schema(schema)
        assert fastavro.schemaless_reader(io.BytesIO(data), parsed, None) == expected
        proc = runnel(["avro", "decode", "--schema", schema_file(schema_dir, case_id, schema)], data.hex() + "\n")
        assert proc.returncode == 0, proc.stderr
        assert json.loads(proc.stdout) == expected


@pytest.mark.parametrize("case_id,schema,datums,hand_json", case_params())
def test_canonical_form_and_fingerprints(schema_dir, case_id, schema, datums, hand_json):
    proc = runnel(["avro", "fingerprint", "--schema", schema_file(schema_dir, case_id, schema)])
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    canonical = to_parsing_canonical_form(fastavro.parse_schema(schema))
    assert got["canonical_form"] == canonical
    # fastavro prints the CRC-64 as its 8 bytes little-endian (as the single-object encoding writes it).
    assert got["crc64_le"] == fingerprint(canonical, "CRC-64-AVRO")
    assert int(got["crc64"], 16) == int.from_bytes(bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO")), "little")
    assert got["sha256"] == fingerprint(canonical, "SHA-256")
    # The official package's canonical form departs from the specification in two
    # ways (1.12.2): a logical type on a primitive stays an object ({"type":"bytes"}
    # instead of "bytes"), and a named type used twice is written out twice. Where
    # it follows the specification, it must agree too, with its own CRC-64.
    official = avro.schema.parse(json.dumps(schema))
    if official.canonical_form == canonical:
        assert bytes.fromhex(got["crc64_le"]) == official.fingerprint("CRC-64-AVRO")


def test_bad_lines_are_reported_with_their_number_and_exit_non_zero(schema_dir):
    path = schema_file(schema_dir, "bad-int", "int")
    proc = runnel(["avro", "encode", "--schema", path], "1\n\n\"x\"\n3\n")
    assert proc.returncode != 0
    assert out_lines(proc.stdout) == ["02"]
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "line 3" in proc.stderr
    proc = runnel(["avro", "decode", "--schema", path], "02\n0202\n")
    assert proc.returncode != 0
    assert "line 2" in proc.stderr and "trailing" in proc.stderr


def test_schema_references_resolve_as_fastavro_resolves_named_schemas(schema_dir):
    address = {"type": "record", "name": "Address", "namespace": "ex", "fields": [{"name": "city", "type": "string"}]}
    user = {
        "type": "record",
        "name": "User",
        "namespace": "ex",
        "fields": [{"name": "home", "type": "Address"}, {"name": "work", "type": ["null", "ex.Address"]}],
    }
    named = {}
    fastavro.parse_schema(address, named_schemas=named)
    parsed = fastavro.parse_schema(user, named_schemas=named)
    datum = {"home": {"city": "Oslo"}, "work": {"city": "Bergen"}}
    expected = fastavro_bytes(parsed, datum)
    args = ["--schema", schema_file(schema_dir, "ref-user", user), "--reference", schema_file(schema_dir, "ref-address", address)]
    proc = runnel(["avro", "encode", *args], '{"home": {"city": "Oslo"}, "work": {"ex.Address": {"city": "Bergen"}}}\n')
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == expected.hex() + "\n"
    # The canonical form includes the referenced definition where it is first used, as
    # Java's parser (which resolves names into the schema) gives it; fastavro leaves the
    # name unexpanded, so compare with fastavro's form of the same schema written inline.
    inline = json.loads(json.dumps(user))
    inline["fields"][0]["type"] = address
    proc = runnel(["avro", "fingerprint", *args])
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["canonical_form"] == to_parsing_canonical_form(fastavro.parse_schema(inline))
