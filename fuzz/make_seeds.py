#!/usr/bin/env python3
"""Writes the seed corpora of Runnel's fuzz targets into fuzz/corpus/<target>/.

Run from anywhere: `python3 fuzz/make_seeds.py` (stdlib only). The seeds are
deterministic, so re-running rewrites the same files; regression inputs found by
fuzzing live next to them as `regress-*` and are left alone.

The schemas come from fuzz/src/lib.rs (SCHEMAS and COMPATIBLE_PAIRS), so the
targets and their seeds cannot drift apart. The Avro binary encoder, the
RecordBatch v2 builder and the CRC-32C here are written from the specifications,
independently of Runnel's code: a seed that Runnel refused would show a
disagreement between the two at once (the targets run every seed first).
"""

import json
import pathlib
import re
import struct

ROOT = pathlib.Path(__file__).resolve().parent
CORPUS = ROOT / "corpus"


# --- schemas, read from the fuzz crate ------------------------------------------------


def rust_strings(block):
    """The schema strings of a Rust const block: raw strings and include_str! files."""
    out = []
    for m in re.finditer(r'r#"(.*?)"#|include_str!\("([^"]+)"\)', block, re.S):
        if m.group(1) is not None:
            out.append(m.group(1))
        else:
            out.append((ROOT / "src" / m.group(2)).read_text())
    return out


LIB = (ROOT / "src" / "lib.rs").read_text()
SCHEMAS = rust_strings(LIB.split("pub const SCHEMAS")[1].split("];")[0])
_pairs = rust_strings(LIB.split("pub const COMPATIBLE_PAIRS")[1].split("];")[0])
PAIRS = list(zip(_pairs[0::2], _pairs[1::2]))


# --- Avro binary, from the specification ---------------------------------------------


def zigzag(n):
    return (n << 1) ^ (n >> 63)


def varint(n):
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def long(n):
    return varint(zigzag(n))


PRIMITIVES = ("null", "boolean", "int", "long", "float", "double", "bytes", "string")


def latin1(s):
    return s.encode("latin-1")


class Encoder:
    """Encodes Avro-JSON datums for one schema (named types resolved as met)."""

    def __init__(self, schema_json):
        self.named = {}
        self.root = json.loads(schema_json)

    def full(self, name, ns):
        return name if "." in name or not ns else f"{ns}.{name}"

    def resolve(self, s, ns):
        """(the schema node as a dict with "type", its namespace)."""
        if isinstance(s, list):
            return {"type": "union", "branches": s}, ns
        if isinstance(s, str):
            return ({"type": s}, ns) if s in PRIMITIVES else self.named[self.full(s, ns)]
        t = s["type"]
        if t in ("record", "enum", "fixed"):
            if "." in s["name"]:
                ns = s["name"].rsplit(".", 1)[0]
            else:
                ns = s.get("namespace", ns)
            self.named[self.full(s["name"], ns)] = (s, ns)
            return s, ns
        if t in ("array", "map"):
            return s, ns
        return self.resolve(t, ns)  # a primitive with a logical type, or a nested type

    def type_name(self, s, ns):
        r, rns = self.resolve(s, ns)
        t = r["type"]
        return self.full(r["name"], rns) if t in ("record", "enum", "fixed") else t

    def encode(self, v, s=None, ns=None):
        s, ns = self.resolve(self.root if s is None else s, ns)
        t = s["type"]
        if t == "null":
            return b""
        if t == "boolean":
            return b"\x01" if v else b"\x00"
        if t in ("int", "long"):
            return long(v)
        if t == "float":
            return struct.pack("<f", v)
        if t == "double":
            return struct.pack("<d", v)
        if t in ("bytes", "string"):
            b = latin1(v) if t == "bytes" else v.encode()
            return long(len(b)) + b
        if t == "fixed":
            return latin1(v)
        if t == "enum":
            return long(s["symbols"].index(v))
        if t == "array":
            body = b"".join(self.encode(x, s["items"], ns) for x in v)
            return (long(len(v)) + body if v else b"") + b"\x00"
        if t == "map":
            body = b"".join(long(len(k.encode())) + k.encode() + self.encode(x, s["values"], ns) for k, x in v.items())
            return (long(len(v)) + body if v else b"") + b"\x00"
        if t == "union":
            if v is None:
                return long([self.type_name(b, ns) for b in s["branches"]].index("null"))
            (name, inner), = v.items()
            names = [self.type_name(b, ns) for b in s["branches"]]
            i = names.index(name) if name in names else [n.rsplit(".", 1)[-1] for n in names].index(name)
            return long(i) + self.encode(inner, s["branches"][i], ns)
        if t == "record":
            return b"".join(self.encode(v[f["name"]], f["type"], ns) for f in s["fields"])
        raise ValueError(f"unknown type {t}")


# Datums per schema index of SCHEMAS, in Avro-JSON (the form avro_json takes too).
USER = {"id": 1, "name": "Ada", "email": {"string": "ada@example.com"}, "age": 36, "active": True,
        "score": 9.5, "tags": ["math", "engines"], "manager": None}
USER2 = {"id": 2, "name": "Bob", "email": None, "age": 40, "active": False, "score": -1.25, "tags": [],
         "status": "SUSPENDED", "country": "fr"}
DATUMS = [
    [None],
    [True, False],
    [0, -1, 2147483647, -2147483648],
    [0, 1 << 40, -(1 << 63)],
    [1.5, -0.0],
    [3.141592653589793, 1e300],
    ["", "\u0000\u00ff\u0080"],
    ["", "héllo ✓"],
    ["abcd"],
    ["RED", "BLUE"],
    [[], [1, -2, 3]],
    [[None, None, None]],
    [{}, {"a": "x", "bé": ""}],
    [{"k": None}],
    [None, {"int": 7}, {"string": "s"}, {"array": [True, False]}],
    [{"value": 1, "next": {"Node": {"value": 2, "next": None}}}],
    [{"d": 19000, "tm": 1700000000000, "tu": 1700000000000000, "u": "6f1c1a7e-0b2c-4e59-9d7c-1c2b3a4d5e6f",
      "dec": "\u0001\u00e2\u0040", "fdec": "\u0000\u0000\u0000\u0000\u0000\u0001\u0086\u00a0",
      "dur": "\u0001\u0000\u0000\u0000\u0002\u0000\u0000\u0000\u0003\u0000\u0000\u0000"}],
    [{"id": 9, "inner": {"tags": ["t"], "scores": {"a": None, "b": {"double": 0.5}}},
      "again": {"com.example.Inner": {"tags": [], "scores": {}}}, "kind": "B",
      "either": {"com.example.Id": "xy"}, "grid": [[1, 2], [], [3]]}],
    [USER],
    [USER2],
    [dict(USER2, status="DELETED")],
]
assert len(DATUMS) == len(SCHEMAS), "one list of datums per schema"

# Datums per writer schema of PAIRS.
PAIR_DATUMS = [
    [5, -5], [5], [1 << 33], [2.5], ["text"], ["bytes"], [42],
    [{"int": 1}, {"string": "s"}], [None, {"int": 3}], [[1, 2, 3]], [{"a": 1}],
    ["A", "B", "C"], ["xyz"],
    [{"a": 1, "gone": [{"k": "v"}, {}], "b": "keep", "old": {"float": 1.5}},
     {"a": -1, "gone": [], "b": "", "old": None}],
    [{"value": 1, "next": {"Node": {"value": 2, "next": None}}}],
    [USER], [USER2], [dict(USER2, status="DELETED")], [USER],
]
assert len(PAIR_DATUMS) == len(PAIRS), "one list of datums per pair"


# --- RecordBatch v2, from Kafka's format ---------------------------------------------


def crc32c(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
    return crc ^ 0xFFFFFFFF


def kvarint(n):
    return varint(zigzag(n) & 0xFFFFFFFF) if -(1 << 31) <= n < (1 << 31) else varint(zigzag(n))


def nbytes(b):
    return kvarint(-1) if b is None else kvarint(len(b)) + b


def batch(records, base_offset=0, base_ts=1_700_000_000_000, pid=-1, epoch=-1, seq=-1):
    """records: (key, value, ts_delta, headers)."""
    body = bytearray()
    for i, (k, v, dt, headers) in enumerate(records):
        rec = b"\x00" + kvarint(dt) + kvarint(i) + nbytes(k) + nbytes(v) + kvarint(len(headers))
        rec += b"".join(nbytes(hk.encode()) + nbytes(hv) for hk, hv in headers)
        body += kvarint(len(rec)) + rec
    n = len(records)
    max_ts = base_ts + max(r[2] for r in records)
    after_crc = struct.pack(">hiqqqhii", 0, n - 1, base_ts, max_ts, pid, epoch, seq, n) + bytes(body)
    crc = crc32c(after_crc)
    head = struct.pack(">qiib", base_offset, 4 + 1 + 4 + len(after_crc), -1, 2) + struct.pack(">I", crc)
    return head + after_crc


def framed(schema_id, body):
    return b"\x00" + struct.pack(">I", schema_id) + body


# --- writing -------------------------------------------------------------------------


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    (d / f"seed-{name}").write_bytes(data)


def main():
    encoded = []  # (schema index, datum bytes)
    for i, (schema, datums) in enumerate(zip(SCHEMAS, DATUMS)):
        enc = Encoder(schema)
        for j, d in enumerate(datums):
            b = enc.encode(d)
            encoded.append((i, b))
            write("avro_decode", f"{i:02}-{j}", bytes([i]) + b)
            write("avro_json", f"{i:02}-{j}", bytes([i]) + json.dumps(d, ensure_ascii=False).encode())
            write("confluent_frame", f"{i:02}-{j}", framed(i, b))
        write("avro_schema", f"{i:02}", schema.encode())
    # A parsed schema followed by a datum (avro_decode's second input form).
    write("avro_decode", "parsed-schema", b"\x80" + SCHEMAS[15].encode() + b"\x00" + encoded[-1][1][:0]
          + Encoder(SCHEMAS[15]).encode({"value": 3, "next": None}))
    # Non-canonical encodings readers must accept: a negative block count with a
    # byte size, an array in two blocks, an over-long varint.
    write("avro_decode", "negative-block", bytes([10]) + long(-2) + long(2) + long(1) + long(2) + b"\x00")
    write("avro_decode", "two-blocks", bytes([10]) + long(1) + long(1) + long(1) + long(2) + b"\x00")
    write("avro_decode", "overlong-varint", bytes([2]) + b"\x80\x80\x00")
    write("avro_schema", "references", json.dumps(
        {"type": "record", "name": "A", "namespace": "n", "aliases": ["B"], "fields": [
            {"name": "x", "type": {"type": "enum", "name": "E", "symbols": ["P", "Q"]}, "default": "P",
             "order": "descending", "aliases": ["y"], "doc": "d"},
            {"name": "z", "type": ["null", "E", {"type": "fixed", "name": "m.F", "size": 0}]}]}).encode())

    for i, ((w, _), datums) in enumerate(zip(PAIRS, PAIR_DATUMS)):
        enc = Encoder(w)
        for j, d in enumerate(datums):
            write("avro_resolve", f"{i:02}-{j}", bytes([i]) + enc.encode(d))

    user = Encoder(SCHEMAS[18]).encode(USER)
    b1 = batch([(b"k1", framed(1, user), 0, [("trace", b"abc")]), (None, None, 5, [])])
    b2 = batch([(b"", b"v", -3, [("a", b""), ("a", b"2")])], pid=7, epoch=0, seq=0)
    write("record_batch", "one-batch", b1)
    write("record_batch", "two-batches", b1 + b2)
    write("record_batch", "builder-input", bytes(range(64)))
    write("confluent_frame", "short", b"\x00\x00\x00")

    # segment_recovery: flags byte, then segments (see the target's comment).
    def seq_batches(base, specs):
        out, off = b"", base
        for n in specs:
            out += batch([(b"k", bytes([i]) * i, i, []) for i in range(n)], base_offset=off)
            off += n
        return out, off

    one, end = seq_batches(0, [1, 3, 2])
    write("segment_recovery", "tail-only", b"\x00" + one)
    write("segment_recovery", "torn-tail", b"\x00" + one + one[: len(one) // 3])
    at1000, _ = seq_batches(1000, [2, 1])
    write("segment_recovery", "base-1000", b"\x02" + at1000)
    sealed, end = seq_batches(0, [2, 2])
    tail, _ = seq_batches(end, [1, 4])
    two = struct.pack(">HH", len(sealed), end) + sealed + tail
    write("segment_recovery", "sealed-and-tail", b"\x04" + two)
    write("segment_recovery", "sealed-trusted-indexes", b"\x0c" + two)

    # registry_rest: selector byte (see REQUESTS), then the body.
    v2 = json.dumps({"schema": SCHEMAS[19]}).encode()
    v1 = json.dumps({"schema": SCHEMAS[18], "schemaType": "AVRO"}).encode()
    bad = json.dumps({"schema": SCHEMAS[18].replace('"long"', '"string"')}).encode()
    for sel, name, body in [
        (0, "register-v2", v2), (0, "register-incompatible", bad),
        (0, "register-refs", json.dumps({"schema": '"int"', "references": [
            {"name": "x", "subject": "fuzz-value", "version": 1}]}).encode()),
        (1, "lookup-v1", v1), (2, "check-latest", v2), (3, "check-v1", bad),
        (4, "config-subject", b'{"compatibility":"FULL_TRANSITIVE"}'),
        (5, "config-global", b'{"compatibilityLevel":"none"}'),
        (6, "mode-subject", b'{"mode":"READONLY"}'), (7, "mode-global", b'{"mode":"IMPORT"}'),
    ]:
        write("registry_rest", f"{sel}-{name}", bytes([sel]) + body)


if __name__ == "__main__":
    main()
