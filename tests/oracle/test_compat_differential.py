"""Differential test: Runnel's schema compatibility verdicts against the
official Apache Avro checker (`avro.compatibility.ReaderWriterCompatibilityChecker`).

Several hundred reader/writer pairs: hand-picked edge cases, one or more per
rule of the specification's "Schema Resolution" section, and generated ones
(random schemas and random evolutions of them, checked in both directions).
Runnel's verdicts come from the real binary (`runnel compat --pairs FILE`).

Any disagreement fails the test, except where the Avro specification's text
says the official checker is wrong. Those cases are listed in
`SPEC_OVERRIDES` (hand-picked, each with the sentence of the specification
that decides it) and, for generated pairs, recognised by
`spec_justified_disagreement`, which accepts only two rules the official
checker does not apply, each with its sentence: decimals must agree on
precision and scale (SPEC_DECIMAL), and a default the reader needs must be a
value of the field's type (SPEC_DEFAULT).
"""

import copy
import json
import os
import random
import subprocess
import tempfile
from pathlib import Path

import avro.schema
import pytest
from avro.compatibility import ReaderWriterCompatibilityChecker, SchemaCompatibilityType

REPO = Path(__file__).resolve().parents[2]

# --------------------------------------------------------------------------
# Running both checkers
# --------------------------------------------------------------------------


def runnel_bin():
    path = os.environ.get("RUNNEL_BIN") or str(REPO / "target" / "debug" / "runnel")
    if not Path(path).exists():
        pytest.fail(f"the runnel binary is missing at {path}: run `cargo build -p runnel-cli` or set RUNNEL_BIN")
    return path


def runnel_verdicts(pairs):
    """Runnel's verdict for each (reader, writer), from one run of the binary."""
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for reader, writer in pairs:
            f.write(json.dumps({"reader": reader, "writer": writer}) + "\n")
        name = f.name
    try:
        out = subprocess.run(
            [runnel_bin(), "compat", "--pairs", name], capture_output=True, text=True, timeout=120
        )
    finally:
        os.unlink(name)
    assert out.returncode == 0, f"runnel compat failed: {out.stderr}"
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    assert len(lines) == len(pairs), "runnel printed one verdict per pair"
    return lines


def official_result(reader, writer):
    """The official checker's result, or None when it cannot parse a schema."""
    try:
        r = avro.schema.parse(json.dumps(reader))
        w = avro.schema.parse(json.dumps(writer))
    except Exception:  # noqa: BLE001 - any parse failure means "not comparable"
        return None
    return ReaderWriterCompatibilityChecker().get_compatibility(r, w)


def official_verdict(reader, writer):
    """The official checker's verdict, or None when it cannot parse a schema."""
    result = official_result(reader, writer)
    return None if result is None else result.compatibility is SchemaCompatibilityType.compatible


def paths_comparable(runnel):
    """Whether Runnel's paths can be compared with the official checker's
    locations. Not when a union is involved: the official checker drops the
    location when it descends into a writer union (it calls itself without
    one, so everything below reports "/"), names a writer branch index where
    Runnel points into the reader schema, and reports a reader union's
    resolved branch at the union."""

    def through_reader_union(path):
        segments = path.split(": ", 1)[0].split("/")
        return any(s.isdigit() and prev != "fields" for prev, s in zip(segments, segments[1:]))

    problems = runnel["incompatibilities"]
    return not any("union" in p or through_reader_union(p) for p in problems)


def official_paths(result, runnel):
    """The official checker's locations, normalised: its merge keeps a
    spurious "/" next to real locations, and a reader field missing from the
    writer whose type is an enum with an enum-level default is reported as an
    enum/record type mismatch at ".../type" (it compares the enum with the
    writer record) where Runnel reports the missing default at the field."""
    paths = set(result.locations)
    if len(paths) > 1:
        paths.discard("/")
    mine = {p.split(": ", 1)[0] for p in runnel["incompatibilities"]}
    return {p[: -len("/type")] if p.endswith("/type") and p[: -len("/type")] in mine else p for p in paths}


# --------------------------------------------------------------------------
# Hand-picked cases
# --------------------------------------------------------------------------


def rec(name, fields, **extra):
    return {"type": "record", "name": name, "fields": fields, **extra}


def fld(name, type_, **extra):
    return {"name": name, "type": type_, **extra}


def enum(name, symbols, **extra):
    return {"type": "enum", "name": name, "symbols": symbols, **extra}


def fixed(name, size, **extra):
    return {"type": "fixed", "name": name, "size": size, **extra}


PRIMS = ["null", "boolean", "int", "long", "float", "double", "bytes", "string"]

HAND = {}  # name -> (reader, writer)


def case(name, reader, writer):
    assert name not in HAND, name
    HAND[name] = (reader, writer)


# Every primitive pair: identity, the promotions, and every mismatch.
for r in PRIMS:
    for w in PRIMS:
        case(f"primitive {r} <- {w}", r, w)
        case(f"field {r} <- {w}", rec("R", [fld("f", r)]), rec("R", [fld("f", w)]))

# Records: fields added, removed, reordered, renamed with aliases.
U1 = rec("User", [fld("name", "string"), fld("age", "int")])
case("record reader adds field with default", rec("User", U1["fields"] + [fld("email", ["null", "string"], default=None)]), U1)
case("record reader adds field without default", rec("User", U1["fields"] + [fld("email", "string")]), U1)
case("record writer has extra field", rec("User", [fld("name", "string")]), U1)
case("record fields reordered", rec("User", [fld("age", "int"), fld("name", "string")]), U1)
case("record field promoted int to long", rec("User", [fld("name", "string"), fld("age", "long")]), U1)
case("record field narrowed long to int", U1, rec("User", [fld("name", "string"), fld("age", "long")]))
case("record field renamed with alias", rec("User", [fld("full_name", "string", aliases=["name"]), fld("age", "int")]), U1)
case("record field renamed without alias", rec("User", [fld("full_name", "string"), fld("age", "int")]), U1)
case("record renamed without alias", rec("Person", U1["fields"]), U1)
case("record renamed with alias", rec("Person", U1["fields"], aliases=["User"]), U1)
case("record same name other namespace", rec("User", U1["fields"], namespace="a"), rec("User", U1["fields"], namespace="b"))
case("record alias qualified", rec("Person", U1["fields"], namespace="a", aliases=["b.User"]), rec("User", U1["fields"], namespace="b"))
case("record empty", rec("E", []), rec("E", [fld("x", "int")]))
case("record defaults of every type", rec("D", [
    fld("a", "int", default=1), fld("b", "long", default=-2), fld("c", "float", default=1.5),
    fld("d", "double", default=2), fld("e", "bytes", default="\u00ff"), fld("f", "string", default="x"),
    fld("g", "boolean", default=True), fld("h", "null", default=None),
    fld("i", {"type": "array", "items": "int"}, default=[1, 2]),
    fld("j", {"type": "map", "values": "string"}, default={"k": "v"}),
    fld("k", enum("Color", ["RED", "GREEN"]), default="GREEN"),
    fld("l", fixed("Four", 4), default="abcd"),
    fld("m", rec("Inner", [fld("x", "int"), fld("y", "string", default="z")]), default={"x": 1}),
    fld("n", ["null", "int"], default=None), fld("o", ["int", "null"], default=3),
]), rec("D", []))
case("record nested field incompatible", rec("O", [fld("in", rec("I", [fld("x", "int")]))]), rec("O", [fld("in", rec("I", [fld("x", "string")]))]))
case("record several problems", rec("R", [fld("a", "int"), fld("b", "string"), fld("c", "long")]), rec("R", [fld("a", "long"), fld("b", "int")]))
case("record vs enum", rec("X", []), enum("X", ["A"]))

# Enums.
case("enum same", enum("E", ["A", "B"]), enum("E", ["A", "B"]))
case("enum reader adds symbol", enum("E", ["A", "B", "C"]), enum("E", ["A", "B"]))
case("enum writer adds symbol", enum("E", ["A", "B"]), enum("E", ["A", "B", "C"]))
case("enum writer adds symbol reader default", enum("E", ["A", "B"], default="A"), enum("E", ["A", "B", "C"]))
case("enum symbols reordered", enum("E", ["B", "A"]), enum("E", ["A", "B"]))
case("enum renamed", enum("F", ["A"]), enum("E", ["A"]))
case("enum renamed with alias", enum("F", ["A"], aliases=["E"]), enum("E", ["A"]))
case("enum disjoint", enum("E", ["X"]), enum("E", ["Y"]))

# Fixed.
case("fixed same", fixed("F", 4), fixed("F", 4))
case("fixed size differs", fixed("F", 4), fixed("F", 8))
case("fixed renamed", fixed("G", 4), fixed("F", 4))
case("fixed renamed with alias", fixed("G", 4, aliases=["F"]), fixed("F", 4))
case("fixed vs bytes", fixed("F", 4), "bytes")

# Arrays and maps.
case("array items promoted", {"type": "array", "items": "long"}, {"type": "array", "items": "int"})
case("array items narrowed", {"type": "array", "items": "int"}, {"type": "array", "items": "long"})
case("map values promoted", {"type": "map", "values": "double"}, {"type": "map", "values": "float"})
case("map values mismatch", {"type": "map", "values": "int"}, {"type": "map", "values": "string"})
case("array vs map", {"type": "array", "items": "int"}, {"type": "map", "values": "int"})
case("array of records evolving", {"type": "array", "items": rec("I", [fld("x", "int"), fld("y", "int", default=0)])}, {"type": "array", "items": rec("I", [fld("x", "int")])})

# Unions.
case("union nullable reader", ["null", "string"], "string")
case("union nullable writer", "string", ["null", "string"])
case("union widened", ["null", "string", "int"], ["null", "string"])
case("union narrowed", ["null", "string"], ["null", "string", "int"])
case("union reordered", ["string", "null"], ["null", "string"])
case("union promotion into branch", ["null", "long"], "int")
case("union writer branch promoted", ["null", "double"], ["null", "int", "float"])
case("union writer all readable by scalar", "double", ["int", "long", "float"])
case("union writer one unreadable by scalar", "long", ["int", "float"])
case("union of records", ["null", rec("A", [fld("x", "int")]), rec("B", [fld("y", "int")])], rec("B", [fld("y", "int")]))
case("union record branch deep failure", ["null", rec("A", [fld("x", "int")])], rec("A", [fld("x", "string")]))
case("union string reads bytes", ["null", "string"], "bytes")
case("union enum evolving", ["null", enum("E", ["A", "B"])], ["null", enum("E", ["A"])])
case("union nullable field narrowed to non-null", rec("R", [fld("e", "string")]), rec("R", [fld("e", ["null", "string"], default=None)]))
case("union nullable field widened from non-null", rec("R", [fld("e", ["null", "string"], default=None)]), rec("R", [fld("e", "string")]))
case("union nested array of union", {"type": "array", "items": ["null", "long"]}, {"type": "array", "items": ["int", "null"]})
case("union of arrays", ["null", {"type": "array", "items": "long"}], {"type": "array", "items": "int"})

# Named types and recursion.
LIST = rec("Node", [fld("v", "int"), fld("next", ["null", "Node"], default=None)])
case("recursive same", LIST, LIST)
case("recursive promoted", rec("Node", [fld("v", "long"), fld("next", ["null", "Node"], default=None)]), LIST)
case("recursive narrowed", LIST, rec("Node", [fld("v", "long"), fld("next", ["null", "Node"], default=None)]))
case("recursive reader adds field", rec("Node", [fld("v", "int"), fld("next", ["null", "Node"]), fld("w", "int", default=0)]), LIST)
case("recursive reader adds field without default", rec("Node", [fld("v", "int"), fld("next", ["null", "Node"]), fld("w", "int")]), LIST)
TREE = rec("Tree", [fld("kids", {"type": "array", "items": "Tree"}), fld("label", "string")])
case("recursive tree", TREE, TREE)
case("recursive tree label to bytes", rec("Tree", [fld("kids", {"type": "array", "items": "Tree"}), fld("label", "bytes")]), TREE)
case("named type reused", rec("P", [fld("a", fixed("Id", 16)), fld("b", "Id")]), rec("P", [fld("a", fixed("Id", 16)), fld("b", "Id")]))
case("named type reused size changes", rec("P", [fld("a", fixed("Id", 16)), fld("b", "Id")]), rec("P", [fld("a", fixed("Id", 8)), fld("b", "Id")]))
case("namespaced nested types", rec("R", [fld("e", enum("E", ["A"]))], namespace="com.x"), rec("R", [fld("e", enum("E", ["A"]))], namespace="com.y"))
case("namespaced reference", rec("R", [fld("e", enum("E", ["A", "B"])), fld("f", "com.x.E")], namespace="com.x"), rec("R", [fld("e", enum("E", ["A"])), fld("f", "E")], namespace="com.x"))

# Logical types resolve as their underlying types (decimal: see SPEC_OVERRIDES).
DEC = lambda p, s: {"type": "bytes", "logicalType": "decimal", "precision": p, "scale": s}  # noqa: E731
case("decimal same", DEC(10, 2), DEC(10, 2))
case("decimal from bytes", DEC(10, 2), "bytes")
case("decimal to bytes", "bytes", DEC(10, 2))
case("timestamp from long", {"type": "long", "logicalType": "timestamp-millis"}, "long")
case("date from int", {"type": "int", "logicalType": "date"}, "int")
case("timestamp-micros from date", {"type": "long", "logicalType": "timestamp-micros"}, {"type": "int", "logicalType": "date"})
case("uuid from string", {"type": "string", "logicalType": "uuid"}, "string")
case("uuid from bytes", {"type": "string", "logicalType": "uuid"}, "bytes")
case("date from long", {"type": "int", "logicalType": "date"}, "long")
case("decimal fixed same", fixed("D", 8, logicalType="decimal", precision=10, scale=2), fixed("D", 8, logicalType="decimal", precision=10, scale=2))
case("decimal fixed size differs", fixed("D", 8, logicalType="decimal", precision=10, scale=2), fixed("D", 16, logicalType="decimal", precision=10, scale=2))

# Where the official checker departs from the specification's text, the
# specification decides. Each entry: the case, Runnel's verdict, and the sentence.
SPEC_DECIMAL = (
    'Specification, "Decimal": "For the purposes of schema resolution, two schemas that are decimal '
    'logical types match if their scales and precisions match." The official checker ignores logical types.'
)
SPEC_DEFAULT = (
    'Specification, "Schema Resolution": "if the reader\'s record schema has a field that contains a default '
    'value, and writer\'s schema does not have a field with the same name, then the reader should use the default '
    'value from its field." A default that is not a value of the field\'s type (e.g. 16 bytes for a fixed of size '
    "17) cannot be used; the official checker only asks whether a default exists."
)


SPEC_OVERRIDES = {}


def override(name, reader, writer, runnel_compatible, sentence):
    case(name, reader, writer)
    SPEC_OVERRIDES[name] = (runnel_compatible, sentence)


override("decimal scale differs", DEC(10, 2), DEC(10, 3), False, SPEC_DECIMAL)
override("decimal precision differs", DEC(10, 2), DEC(12, 2), False, SPEC_DECIMAL)
override(
    "decimal fixed precision differs",
    fixed("D", 8, logicalType="decimal", precision=10, scale=2),
    fixed("D", 8, logicalType="decimal", precision=12, scale=2),
    False,
    SPEC_DECIMAL,
)
case("record full name written in name, same unqualified name", rec("a.User", U1["fields"]), rec("User", U1["fields"], namespace="b"))
case("enum full name written in name, same unqualified name", enum("a.E", ["A"]), enum("E", ["A"], namespace="b"))
override(
    "record alias relative to the namespace",
    rec("Person", U1["fields"], namespace="a", aliases=["User"]),
    rec("User", U1["fields"], namespace="a"),
    True,
    'Specification, "Aliases": "A type alias may be specified either as a fully namespace-qualified, or '
    'relative to the namespace of the name it is an alias for." The official checker compares the alias '
    'as written ("User") with the writer\'s full name ("a.User").',
)
override(
    "union first matching branch fails deep",
    [rec("R", [fld("x", "int")], namespace="a"), rec("R", [fld("x", "string")], namespace="b")],
    rec("R", [fld("x", "string")], namespace="c"),
    False,
    'Specification, "Schema Resolution", unions: "The first schema in the reader\'s union that matches '
    'the selected writer\'s union schema is recursively resolved against it. if none match, an error is '
    'signalled." Both branches match by unqualified name; the first does not resolve. The official '
    "checker accepts any branch that resolves.",
)
override(
    "fixed default of the wrong size",
    rec("R", [fld("a", "int"), fld("f", fixed("F", 4), default="abc")]),
    rec("R", [fld("a", "int")]),
    False,
    SPEC_DEFAULT,
)
override(
    "union default matching a later branch",
    rec("R", [fld("a", "int"), fld("b", ["null", "string"], default="x")]),
    rec("R", [fld("a", "int")]),
    False,
    'Specification, "Complex Types", records: "when a default value is specified for a record field whose '
    'type is a union, the type of the default value must match the first element of the union." The '
    "official checker only asks whether a default exists; the reader could not decode this one.",
)


def spec_rule(problem):
    """The specification rule the official checker does not apply that a
    Runnel problem rests on (SPEC_DECIMAL or SPEC_DEFAULT), or None."""
    if "precision and scale must match" in problem:
        return SPEC_DECIMAL
    if "its default is invalid" in problem:
        return SPEC_DEFAULT
    return None


def spec_justified_disagreement(runnel, official):
    """Whether a generated pair's disagreement is decided by the specification:
    Runnel refuses, the official checker accepts, and every reason Runnel gives
    rests on a rule the official checker does not apply (see spec_rule)."""
    problems = runnel["incompatibilities"]
    return official and not runnel["compatible"] and problems and all(spec_rule(p) for p in problems)


# --------------------------------------------------------------------------
# Generated cases
# --------------------------------------------------------------------------


class Gen:
    """Random schemas and evolutions, from a seeded generator (deterministic)."""

    def __init__(self, seed):
        self.rnd = random.Random(seed)
        self.n = 0

    def fresh(self, prefix):
        self.n += 1
        return f"{prefix}{self.n}"

    def type_(self, depth):
        r = self.rnd.random()
        if depth <= 0 or r < 0.45:
            return self.rnd.choice(PRIMS[1:])
        if r < 0.55:
            return enum(self.fresh("E"), ["A", "B", "C", "D"][: self.rnd.randint(1, 4)])
        if r < 0.62:
            return fixed(self.fresh("F"), self.rnd.choice([2, 4, 16]))
        if r < 0.70:
            return {"type": "array", "items": self.type_(depth - 1)}
        if r < 0.77:
            return {"type": "map", "values": self.type_(depth - 1)}
        if r < 0.80:
            return {"type": "bytes", "logicalType": "decimal", "precision": self.rnd.randint(4, 10), "scale": self.rnd.randint(0, 3)}
        if r < 0.90:
            branches = self.rnd.sample(["null", "int", "long", "string", "bytes", "double", "boolean"], self.rnd.randint(2, 3))
            return branches
        return self.record(depth - 1)

    def record(self, depth):
        fields = []
        for i in range(self.rnd.randint(1, 5)):
            t = self.type_(depth)
            f = fld(f"f{i}", t)
            if self.rnd.random() < 0.3:
                d = default_for(t, self.rnd)
                if d is not NO_DEFAULT:
                    f["default"] = d
            fields.append(f)
        return rec(self.fresh("R"), fields)


NO_DEFAULT = object()


def default_for(t, rnd):
    """A valid default for type t (unions: a value of the first branch)."""
    if isinstance(t, list):
        return default_for(t[0], rnd)
    if isinstance(t, str):
        return {
            "null": None, "boolean": rnd.choice([True, False]), "int": rnd.randint(-5, 5),
            "long": rnd.randint(-5, 5), "float": 0.5, "double": -1.25, "bytes": "\u00e9a", "string": "s",
        }.get(t, NO_DEFAULT)
    kind = t["type"]
    if kind == "enum":
        return t["symbols"][0]
    if kind == "fixed":
        return "x" * t["size"]
    if kind == "array":
        return []
    if kind == "map":
        return {}
    if kind == "record":
        out = {}
        for f in t["fields"]:
            d = default_for(f["type"], rnd)
            if d is NO_DEFAULT:
                return NO_DEFAULT
            out[f["name"]] = d
        return out
    return NO_DEFAULT


PROMOTIONS = {"int": ["long", "float", "double"], "long": ["float", "double"], "float": ["double"], "string": ["bytes"], "bytes": ["string"]}


def records_in(schema, namespace=None):
    """Every record defined in a schema, with its full name."""
    out = []
    if isinstance(schema, list):
        for b in schema:
            out += records_in(b, namespace)
    elif isinstance(schema, dict):
        kind = schema["type"]
        if kind in ("record", "enum", "fixed"):
            namespace = schema.get("namespace", namespace)
        if kind == "record":
            out.append((schema, f"{namespace}.{schema['name']}" if namespace else schema["name"]))
            for f in schema["fields"]:
                out += records_in(f["type"], namespace)
        elif kind == "array":
            out += records_in(schema["items"], namespace)
        elif kind == "map":
            out += records_in(schema["values"], namespace)
    return out


def mutate(schema, rnd):
    """One random evolution step of one record (top-level or nested) of a schema (a deep copy)."""
    top = copy.deepcopy(schema)
    s, full_name = rnd.choice(records_in(top))
    fields = s["fields"]
    op = rnd.choice([
        "add_default", "add_plain", "remove", "promote", "demote", "retype", "enum_add", "enum_remove",
        "enum_default", "union_widen", "union_narrow", "rename_alias", "rename_plain", "record_alias",
        "fixed_size", "nullable", "unnullable", "reorder", "decimal",
    ])
    i = rnd.randrange(len(fields)) if fields else None
    if op in ("add_default", "add_plain") or i is None:
        t = rnd.choice(["int", "string", ["null", "string"], enum("NewE" + str(rnd.randint(0, 999)), ["X", "Y"])])
        f = fld(f"added{len(fields)}", t)
        if op == "add_default":
            f["default"] = default_for(t, rnd)
        fields.append(f)
    elif op == "remove":
        del fields[i]
    elif op in ("promote", "demote", "retype"):
        t = fields[i]["type"]
        if op == "promote" and isinstance(t, str) and t in PROMOTIONS:
            fields[i]["type"] = rnd.choice(PROMOTIONS[t])
        elif op == "demote" and isinstance(t, str):
            back = [k for k, v in PROMOTIONS.items() if t in v]
            fields[i]["type"] = rnd.choice(back) if back else "int"
        else:
            fields[i]["type"] = rnd.choice(PRIMS[1:])
        fields[i].pop("default", None)
    elif op.startswith("enum") or op == "fixed_size":
        named = [f for f in fields if isinstance(f["type"], dict) and f["type"]["type"] in ("enum", "fixed")]
        if not named:
            return mutate(schema, rnd)
        t = rnd.choice(named)["type"]
        if t["type"] == "fixed":
            t["size"] = t["size"] + rnd.choice([-1, 1]) if t["size"] > 1 else 3
        elif op == "enum_add":
            t["symbols"] = t["symbols"] + [f"Z{len(t['symbols'])}"]
        elif op == "enum_remove" and len(t["symbols"]) > 1:
            t["symbols"] = t["symbols"][:-1]
        else:
            t["default"] = t["symbols"][0]
    elif op in ("union_widen", "union_narrow", "nullable", "unnullable"):
        t = fields[i]["type"]
        if op == "nullable" and not isinstance(t, list):
            fields[i]["type"] = ["null", t] if t != "null" else "null"
            fields[i]["default"] = None
        elif op == "unnullable" and isinstance(t, list) and "null" in t and len(t) == 2:
            fields[i]["type"] = [b for b in t if b != "null"][0]
            fields[i].pop("default", None)
        elif op == "union_widen" and isinstance(t, list):
            extra = [b for b in ["null", "int", "long", "string", "double", "boolean", "bytes"] if b not in t]
            if extra:
                fields[i]["type"] = t + [rnd.choice(extra)]
        elif op == "union_narrow" and isinstance(t, list) and len(t) > 2:
            fields[i]["type"] = t[:-1]
        else:
            return mutate(schema, rnd)
    elif op == "rename_alias":
        fields[i]["aliases"] = [fields[i]["name"]]
        fields[i]["name"] = fields[i]["name"] + "_renamed"
    elif op == "rename_plain":
        fields[i]["name"] = fields[i]["name"] + "_renamed"
    elif op == "record_alias":
        s["aliases"] = [full_name]  # fully qualified: see SPEC_OVERRIDES for relative aliases
        s["name"] = s["name"] + "V2"
    elif op == "reorder":
        rnd.shuffle(fields)
    elif op == "decimal":
        decimals = [f for f in fields if isinstance(f["type"], dict) and f["type"].get("logicalType") == "decimal"]
        if not decimals:
            return mutate(schema, rnd)
        t = rnd.choice(decimals)["type"]
        t[rnd.choice(["precision", "scale"])] += 1
    return top


def generated_pairs(count, seed=20261122):
    gen = Gen(seed)
    rnd = random.Random(seed + 1)
    pairs = []
    while len(pairs) < count:
        base = gen.record(depth=2)
        if rnd.random() < 0.5:
            base["namespace"] = rnd.choice(["com.example", "org.acme.v1"])
        evolved = base
        for _ in range(rnd.choice([1, 1, 2, 3])):
            evolved = mutate(evolved, rnd)
        pairs.append((f"gen {len(pairs)} evolved reads base", evolved, base))
        pairs.append((f"gen {len(pairs)} base reads evolved", base, evolved))
    return pairs


# --------------------------------------------------------------------------
# The tests
# --------------------------------------------------------------------------


class Tally:
    def __init__(self):
        self.checked, self.skipped, self.paths_compared = 0, 0, 0
        self.documented, self.failures = [], []


def compare(named_pairs):
    """Runs both checkers on every pair; returns a Tally of agreements and failures.

    Verdicts must agree (or be a documented disagreement). Where both refuse a
    pair and no union is involved, the paths must agree too."""
    runnel = runnel_verdicts([(r, w) for _, r, w in named_pairs])
    t = Tally()
    documented, failures = t.documented, t.failures
    for (name, reader, writer), mine in zip(named_pairs, runnel):
        result = official_result(reader, writer)
        if result is None or "error" in mine:
            t.skipped += 1
            continue
        official = result.compatibility is SchemaCompatibilityType.compatible
        t.checked += 1
        if name in SPEC_OVERRIDES:
            expected, sentence = SPEC_OVERRIDES[name]
            if mine["compatible"] != expected:
                failures.append(f"{name}: Runnel says {mine}, the specification says compatible={expected}")
            elif official == expected:
                failures.append(f"{name}: listed as a disagreement but the official checker agrees now")
            else:
                documented.append(name)
            continue
        if mine["compatible"] == official:
            if not official and paths_comparable(mine):
                t.paths_compared += 1
                # The official checker does not apply SPEC_DECIMAL and SPEC_DEFAULT.
                mine_paths = {p.split(": ", 1)[0] for p in mine["incompatibilities"] if not spec_rule(p)}
                if mine_paths != official_paths(result, mine):
                    failures.append(
                        f"{name}: paths differ: Runnel {sorted(mine_paths)}, official {sorted(result.locations)}"
                    )
            continue
        if spec_justified_disagreement(mine, official):
            documented.append(name)
            continue
        failures.append(
            f"{name}: Runnel compatible={mine['compatible']} {mine['incompatibilities']}, official={official}\n"
            f"  reader={json.dumps(reader)}\n  writer={json.dumps(writer)}"
        )
    return t


def test_hand_picked_pairs_agree_with_the_official_checker_or_the_specification():
    named = [(name, r, w) for name, (r, w) in HAND.items()]
    t = compare(named)
    assert t.skipped == 0, "every hand-picked schema parses in both implementations"
    assert t.checked >= 150
    assert not t.failures, "\n".join(t.failures)
    assert sorted(t.documented) == sorted(SPEC_OVERRIDES)
    assert t.paths_compared >= 30
    print(
        f"hand-picked: {t.checked} pairs, paths compared on {t.paths_compared}, "
        f"{len(t.documented)} documented disagreements: {t.documented}"
    )


def test_generated_pairs_agree_with_the_official_checker_or_the_specification():
    named = generated_pairs(2000)
    t = compare(named)
    assert t.checked >= 1800, f"only {t.checked} generated pairs were comparable ({t.skipped} skipped)"
    assert not t.failures, f"{len(t.failures)} disagreements of {t.checked}:\n" + "\n".join(t.failures[:20])
    assert t.paths_compared >= 600
    print(
        f"generated: {t.checked} pairs checked, {t.skipped} skipped, paths compared on {t.paths_compared}, "
        f"{len(t.documented)} documented disagreements (decimal or invalid default)"
    )


def test_generated_pairs_include_both_verdicts():
    # A generator that only produced compatible (or only incompatible) pairs would test little.
    named = generated_pairs(200)
    verdicts = {official_verdict(r, w) for _, r, w in named}
    assert {True, False} <= verdicts
