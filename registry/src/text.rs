//! The text the registry returns for a schema: compact JSON as Avro's Java `Schema.toString()`
//! writes it, which is what Confluent Schema Registry stores and returns
//! (`AvroSchema.canonicalString()`), so that clients comparing schema strings match.
//!
//! What Java writes, from the parsed schema:
//! - no whitespace; docs, defaults, aliases, logical types and custom properties kept;
//! - keys in a fixed order: `type`, `name`, `namespace`, `doc`, then `fields` (record),
//!   `symbols` and `default` (enum), `size` (fixed), `items` (array) or `values` (map), then
//!   the custom properties in the order written, then `aliases`. A field: `name`, `type`, `doc`,
//!   `default`, `order` (unless ascending), `aliases`, then its properties;
//! - a named type is defined where first met and named afterwards; a name is written short when
//!   its namespace is the enclosing one (`namespace` is written only where it changes);
//!   an alias is written short when it shares its type's namespace;
//! - `{"type": "int"}` without properties is `"int"`; reserved keys in the wrong place (a `doc`
//!   on an array) are dropped; a textual default of a `float` or `double` field is a number;
//! - strings escaped as Jackson does, doubles printed as Java prints them (`1.0E7`).
//!
//! The identity of a schema (its id) does not come from this text but from
//! [`crate::normalize`], which it predates; this is only how a schema is shown.

use std::collections::HashSet;
use std::fmt::Write as _;

use runnel_avro::model::Model;
use serde_json::{Map, Number, Value};

use crate::normalize::PRIMITIVES;

/// Keys of a schema object Java does not keep as properties.
const SCHEMA_RESERVED: [&str; 10] =
    ["doc", "fields", "items", "name", "namespace", "size", "symbols", "values", "type", "aliases"];
/// Keys of an enum object Java does not keep as properties (its `default` is the default symbol).
const ENUM_RESERVED: [&str; 11] = [
    "doc",
    "fields",
    "items",
    "name",
    "namespace",
    "size",
    "symbols",
    "values",
    "type",
    "aliases",
    "default",
];
/// Keys of a field object Java does not keep as properties.
const FIELD_RESERVED: [&str; 6] = ["default", "doc", "name", "order", "type", "aliases"];
/// Java's `Schema.Type` names: a type named like one of them is always written in full.
const TYPE_NAMES: [&str; 14] = [
    "record", "enum", "array", "map", "union", "fixed", "string", "bytes", "int", "long", "float", "double",
    "boolean", "null",
];

/// The Java form of `schema` (the JSON the schema was parsed from), whose named types, its own
/// and its references', are those of `model`.
pub(crate) fn java_text(schema: &Value, model: &Model) -> String {
    let mut writer = Writer { model, written: HashSet::new(), out: String::with_capacity(256) };
    writer.schema(schema, None);
    writer.out
}

struct Writer<'a> {
    model: &'a Model,
    /// Full names of the named types already defined in the output.
    written: HashSet<String>,
    out: String,
}

impl Writer<'_> {
    /// Writes one schema; `space` is the enclosing namespace (Java's `Names.space`).
    fn schema(&mut self, schema: &Value, space: Option<&str>) {
        match schema {
            Value::String(name) => self.reference(name, space),
            Value::Array(branches) => {
                self.out.push('[');
                for (i, branch) in branches.iter().enumerate() {
                    self.comma(i);
                    self.schema(branch, space);
                }
                self.out.push(']');
            }
            Value::Object(obj) => match obj.get("type") {
                Some(Value::String(ty)) => self.object(obj, ty, space),
                // `{"type": {...}}` only wraps another schema.
                Some(nested) => self.schema(nested, space),
                None => write_json(&mut self.out, schema),
            },
            other => write_json(&mut self.out, other),
        }
    }

    fn object(&mut self, obj: &Map<String, Value>, ty: &str, space: Option<&str>) {
        match ty {
            "record" | "error" | "enum" | "fixed" => self.named(obj, ty, space),
            "array" | "map" => {
                let key = if ty == "array" { "items" } else { "values" };
                self.out.push_str(r#"{"type":"#);
                write_str(&mut self.out, ty);
                self.key(key);
                self.schema(obj.get(key).unwrap_or(&Value::Null), space);
                self.props(obj, &SCHEMA_RESERVED);
                self.out.push('}');
            }
            primitive if PRIMITIVES.contains(&primitive) => {
                if obj.keys().all(|k| SCHEMA_RESERVED.contains(&k.as_str())) {
                    write_str(&mut self.out, primitive);
                } else {
                    self.out.push_str(r#"{"type":"#);
                    write_str(&mut self.out, primitive);
                    self.props(obj, &SCHEMA_RESERVED);
                    self.out.push('}');
                }
            }
            // A named type referred to in object form.
            reference => self.reference(reference, space),
        }
    }

    /// A record, enum or fixed: defined here the first time, named afterwards.
    fn named(&mut self, obj: &Map<String, Value>, ty: &str, space: Option<&str>) {
        let raw = obj.get("name").and_then(Value::as_str).unwrap_or_default();
        let declared = match obj.get("namespace") {
            Some(Value::String(ns)) => Some(ns.as_str()),
            _ => space,
        };
        let name = Name::new(raw, declared);
        if !self.written.insert(name.full.clone()) {
            self.write_name(&name, space);
            return;
        }
        self.out.push_str(r#"{"type":"#);
        write_str(&mut self.out, ty);
        self.key("name");
        write_str(&mut self.out, &name.simple);
        match (name.space.as_deref(), space) {
            (Some(own), enclosing) if Some(own) != enclosing => {
                self.key("namespace");
                write_str(&mut self.out, own);
            }
            (None, Some(_)) => {
                // A type in no namespace inside one that has a namespace.
                self.key("namespace");
                write_str(&mut self.out, "");
            }
            _ => {}
        }
        if let Some(doc) = obj.get("doc").and_then(Value::as_str) {
            self.key("doc");
            write_str(&mut self.out, doc);
        }
        let inner = name.space.as_deref();
        let reserved: &[&str] = match ty {
            "enum" => {
                self.key("symbols");
                self.string_list(obj.get("symbols"), |s| s.to_owned());
                if let Some(default) = obj.get("default").and_then(Value::as_str) {
                    self.key("default");
                    write_str(&mut self.out, default);
                }
                &ENUM_RESERVED
            }
            "fixed" => {
                self.key("size");
                write_json(&mut self.out, obj.get("size").unwrap_or(&Value::Null));
                &SCHEMA_RESERVED
            }
            _ => {
                self.key("fields");
                self.out.push('[');
                let fields = obj.get("fields").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
                for (i, field) in fields.iter().enumerate() {
                    self.comma(i);
                    self.field(field, inner);
                }
                self.out.push(']');
                &SCHEMA_RESERVED
            }
        };
        self.props(obj, reserved);
        if has_aliases(obj) {
            self.key("aliases");
            self.string_list(obj.get("aliases"), |alias| {
                let alias = Name::new(alias, inner);
                alias.qualified(inner).to_owned()
            });
        }
        self.out.push('}');
    }

    fn field(&mut self, field: &Value, space: Option<&str>) {
        let Some(obj) = field.as_object() else { return write_json(&mut self.out, field) };
        self.out.push_str(r#"{"name":"#);
        write_str(&mut self.out, obj.get("name").and_then(Value::as_str).unwrap_or_default());
        let ty = obj.get("type").unwrap_or(&Value::Null);
        self.key("type");
        self.schema(ty, space);
        if let Some(doc) = obj.get("doc").and_then(Value::as_str) {
            self.key("doc");
            write_str(&mut self.out, doc);
        }
        if let Some(default) = obj.get("default") {
            self.key("default");
            match (default, floating(ty)) {
                // Java reads a float or double default given as text as the number it spells.
                (Value::String(text), true) => match parse_java_double(text) {
                    Some(d) => write_double(&mut self.out, d),
                    None => write_json(&mut self.out, default),
                },
                _ => write_json(&mut self.out, default),
            }
        }
        if let Some(order) = obj.get("order").and_then(Value::as_str) {
            let order = order.to_ascii_lowercase();
            if order != "ascending" {
                self.key("order");
                write_str(&mut self.out, &order);
            }
        }
        if has_aliases(obj) {
            self.key("aliases");
            self.string_list(obj.get("aliases"), str::to_owned);
        }
        self.props(obj, &FIELD_RESERVED);
        self.out.push('}');
    }

    /// A use of a named (or primitive) type by name, resolved as Java resolves it: in the
    /// enclosing namespace first, then as written.
    fn reference(&mut self, raw: &str, space: Option<&str>) {
        if PRIMITIVES.contains(&raw) {
            return write_str(&mut self.out, raw);
        }
        let in_space = Name::new(raw, space);
        let name = if self.model.named(&in_space.full).is_some() { in_space } else { Name::new(raw, None) };
        self.write_name(&name, space);
    }

    fn write_name(&mut self, name: &Name, space: Option<&str>) {
        write_str(&mut self.out, name.qualified(space));
    }

    /// The properties: every key not reserved, in the order written.
    fn props(&mut self, obj: &Map<String, Value>, reserved: &[&str]) {
        for (key, value) in obj {
            if !reserved.contains(&key.as_str()) {
                self.key(key);
                write_json(&mut self.out, value);
            }
        }
    }

    /// A list of strings, each once (Java keeps them in a `LinkedHashSet`), mapped by `map`.
    fn string_list(&mut self, list: Option<&Value>, map: impl Fn(&str) -> String) {
        let mut seen = HashSet::new();
        self.out.push('[');
        let items = list.and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        for item in items.iter().filter_map(Value::as_str) {
            let item = map(item);
            if seen.insert(item.clone()) {
                self.comma(seen.len() - 1);
                write_str(&mut self.out, &item);
            }
        }
        self.out.push(']');
    }

    /// `,"key":`
    fn key(&mut self, key: &str) {
        self.out.push(',');
        write_str(&mut self.out, key);
        self.out.push(':');
    }

    fn comma(&mut self, index: usize) {
        if index > 0 {
            self.out.push(',');
        }
    }
}

/// Whether the object has a non-empty `aliases` list (Java writes none for an empty one).
fn has_aliases(obj: &Map<String, Value>) -> bool {
    obj.get("aliases").and_then(Value::as_array).is_some_and(|a| a.iter().any(Value::is_string))
}

/// Whether a field type is `float` or `double` (bare or in object form).
fn floating(ty: &Value) -> bool {
    let name = match ty {
        Value::String(name) => name.as_str(),
        Value::Object(obj) => obj.get("type").and_then(Value::as_str).unwrap_or_default(),
        _ => return false,
    };
    name == "float" || name == "double"
}

/// A name as Java's `Schema.Name` holds it: a dotted name carries its namespace; an empty
/// namespace is none.
struct Name {
    simple: String,
    space: Option<String>,
    full: String,
}

impl Name {
    fn new(raw: &str, space: Option<&str>) -> Name {
        let (space, simple) = match raw.rsplit_once('.') {
            Some((ns, simple)) => (Some(ns), simple),
            None => (space, raw),
        };
        let space = space.filter(|ns| !ns.is_empty()).map(str::to_owned);
        let full = match &space {
            Some(ns) => format!("{ns}.{simple}"),
            None => simple.to_owned(),
        };
        Name { simple: simple.to_owned(), space, full }
    }

    /// Java's `getQualified`: the simple name when the namespace is `space` (unless the simple
    /// name reads as a type), else the full name.
    fn qualified(&self, space: Option<&str>) -> &str {
        match (&self.space, space) {
            (Some(own), Some(enclosing))
                if own == enclosing && !TYPE_NAMES.contains(&self.simple.as_str()) =>
            {
                &self.simple
            }
            _ => &self.full,
        }
    }
}

/// Writes any JSON value as Jackson writes the tree Java parsed it into.
fn write_json(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => write_number(out, n),
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item);
            }
            out.push(']');
        }
        Value::Object(obj) => {
            out.push('{');
            for (i, (key, item)) in obj.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, key);
                out.push(':');
                write_json(out, item);
            }
            out.push('}');
        }
    }
}

/// Integers as written; other numbers are doubles to Jackson, printed as Java prints them.
fn write_number(out: &mut String, n: &Number) {
    if n.is_f64() {
        write_double(out, n.as_f64().unwrap_or(f64::NAN));
    } else {
        let _ = write!(out, "{n}");
    }
}

/// A double as Java's `Double.toString` prints it (`1.0`, `0.001`, `1.0E7`, `1.5E-5`), and the
/// non-finite ones quoted, as Jackson writes them by default.
fn write_double(out: &mut String, d: f64) {
    if d.is_nan() {
        return out.push_str("\"NaN\"");
    }
    if d.is_infinite() {
        return out.push_str(if d > 0.0 { "\"Infinity\"" } else { "\"-Infinity\"" });
    }
    if d == 0.0 {
        return out.push_str(if d.is_sign_negative() { "-0.0" } else { "0.0" });
    }
    // The shortest digits that read back as `d`, and the decimal exponent of the first one.
    let sci = format!("{:e}", d.abs());
    let (mantissa, exponent) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exponent: i32 = exponent.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if d < 0.0 {
        out.push('-');
    }
    if (-3..7).contains(&exponent) {
        if exponent < 0 {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exponent - 1) as usize));
            out.push_str(&digits);
        } else {
            let point = exponent as usize + 1;
            if digits.len() > point {
                out.push_str(&digits[..point]);
                out.push('.');
                out.push_str(&digits[point..]);
            } else {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', point - digits.len()));
                out.push_str(".0");
            }
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        let _ = write!(out, "E{exponent}");
    }
}

/// What Java's `Double.valueOf` reads from a default written as text (`"1.5"`, `"NaN"`,
/// `"-Infinity"`); `None` when it would not.
fn parse_java_double(text: &str) -> Option<f64> {
    let text = text.trim();
    match text {
        "NaN" | "+NaN" | "-NaN" => Some(f64::NAN),
        "Infinity" | "+Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        // Rust also reads "inf" and "nan", which Java does not.
        _ if text
            .chars()
            .any(|c| c.is_ascii_alphabetic() && !matches!(c, 'e' | 'E' | 'd' | 'D' | 'f' | 'F')) =>
        {
            None
        }
        _ => text.trim_end_matches(['d', 'D', 'f', 'F']).parse().ok(),
    }
}

/// Writes a JSON string as Jackson does: `"` and `\` escaped, control characters as `\b`,
/// `\t`, `\n`, `\f`, `\r` or `\u00XX` (upper-case hex), everything else as it is.
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, c) in s.char_indices() {
        let escape = match c {
            '"' => "\\\"",
            '\\' => "\\\\",
            '\u{8}' => "\\b",
            '\t' => "\\t",
            '\n' => "\\n",
            '\u{c}' => "\\f",
            '\r' => "\\r",
            c if (c as u32) < 0x20 => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if escape.is_empty() {
            let _ = write!(out, "\\u{:04X}", c as u32);
        } else {
            out.push_str(escape);
        }
        start = i + c.len_utf8();
    }
    out.push_str(&s[start..]);
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn java(text: &str) -> String {
        let schema = runnel_avro::Schema::parse_str(text).unwrap();
        java_text(&serde_json::from_str(text).unwrap(), schema.model())
    }

    #[test]
    fn whitespace_goes_and_keys_take_javas_order() {
        let pretty = r#"{
            "fields": [
                {"type": "string", "name": "name", "doc": "who", "order": "ascending"},
                {"default": 0, "name": "age", "aliases": ["years", "years"], "type": {"type": "int"}, "x-pii": true}
            ],
            "doc": "a user", "name": "User", "namespace": "com.example", "type": "record",
            "aliases": ["com.example.Person", "other.Human"], "owner": "team-a"
        }"#;
        assert_eq!(
            java(pretty),
            r#"{"type":"record","name":"User","namespace":"com.example","doc":"a user","fields":[{"name":"name","type":"string","doc":"who"},{"name":"age","type":"int","default":0,"aliases":["years"],"x-pii":true}],"owner":"team-a","aliases":["Person","other.Human"]}"#
        );
    }

    #[test]
    fn named_types_are_defined_once_and_named_short_in_their_namespace() {
        let text = r#"{"type":"record","name":"a.b.Outer","fields":[
            {"name":"e","type":{"type":"enum","name":"E","symbols":["X","Y"],"default":"X","doc":"d"}},
            {"name":"e2","type":"a.b.E"},
            {"name":"f","type":{"type":"fixed","name":"F","namespace":"c","size":4,"logicalType":"decimal","precision":6,"scale":2}},
            {"name":"f2","type":["null","c.F"]},
            {"name":"g","type":{"type":"record","name":"G","namespace":"","fields":[{"name":"x","type":"long"}]}},
            {"name":"m","type":{"type":"map","values":{"type":"array","items":"E"}},"default":{}}]}"#;
        assert_eq!(
            java(text),
            concat!(
                r#"{"type":"record","name":"Outer","namespace":"a.b","fields":["#,
                r#"{"name":"e","type":{"type":"enum","name":"E","doc":"d","symbols":["X","Y"],"default":"X"}},"#,
                r#"{"name":"e2","type":"E"},"#,
                r#"{"name":"f","type":{"type":"fixed","name":"F","namespace":"c","size":4,"logicalType":"decimal","precision":6,"scale":2}},"#,
                r#"{"name":"f2","type":["null","c.F"]},"#,
                r#"{"name":"g","type":{"type":"record","name":"G","namespace":"","fields":[{"name":"x","type":"long"}]}},"#,
                r#"{"name":"m","type":{"type":"map","values":{"type":"array","items":"E"}},"default":{}}]}"#
            )
        );
    }

    #[test]
    fn logical_types_and_primitive_objects() {
        let text = r#"{"type":"record","name":"R","fields":[
            {"name":"d","type":{"type":"int","logicalType":"date"}},
            {"name":"p","type":{"type":"long","doc":"dropped"}},
            {"name":"x","type":"double","default":"NaN"},
            {"name":"y","type":"float","default":1e7},
            {"name":"z","type":"double","default":0.00012},
            {"name":"o","type":"int","order":"descending"}]}"#;
        assert_eq!(
            java(text),
            concat!(
                r#"{"type":"record","name":"R","fields":["#,
                r#"{"name":"d","type":{"type":"int","logicalType":"date"}},"#,
                r#"{"name":"p","type":"long"},"#,
                r#"{"name":"x","type":"double","default":"NaN"},"#,
                r#"{"name":"y","type":"float","default":1.0E7},"#,
                r#"{"name":"z","type":"double","default":1.2E-4},"#,
                r#"{"name":"o","type":"int","order":"descending"}]}"#
            )
        );
    }

    #[test]
    fn the_text_is_the_same_schema() {
        let schemas = [
            r#""string""#,
            r#"{"type":"map","values":{"type":"array","items":"long"},"x":1}"#,
            r#"{"type":"record","name":"a.List","fields":[{"name":"next","type":["null","List"]},
                {"name":"v","type":{"type":"record","name":"b.V","fields":[{"name":"w","type":"a.List"},
                {"name":"e","type":{"type":"enum","name":"E","symbols":["A"]}},{"name":"f","type":"b.E"}]}}]}"#,
            r#"{"type":"record","name":"Top","namespace":"n","fields":[
                {"name":"inner","type":{"type":"record","name":"Inner","namespace":"","fields":[
                    {"name":"x","type":{"type":"fixed","name":"F","size":2}},{"name":"y","type":"F"}]}},
                {"name":"d","type":{"type":"bytes","logicalType":"decimal","precision":4,"scale":2}}]}"#,
            r#"{"type":"record","name":"Oops","fields":[{"name":"why","type":"string","default":"\u0001 \"quoted\" é"}]}"#,
        ];
        for text in schemas {
            let original = runnel_avro::Schema::parse_str(text).unwrap();
            let java = java(text);
            let reparsed = runnel_avro::Schema::parse_str(&java).unwrap_or_else(|e| panic!("{java}: {e}"));
            assert_eq!(reparsed.canonical_form(), original.canonical_form(), "{java}");
            assert_eq!(
                java_text(&serde_json::from_str(&java).unwrap(), reparsed.model()),
                java,
                "a fixed point"
            );
        }
    }

    #[test]
    fn doubles_print_as_java_prints_them() {
        let cases = [
            (1.0, "1.0"),
            (-2.5, "-2.5"),
            (100.0, "100.0"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1234567.0, "1234567.0"),
            (12345678.0, "1.2345678E7"),
            (1e21, "1.0E21"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
        ];
        for (d, java) in cases {
            let mut out = String::new();
            write_double(&mut out, d);
            assert_eq!(out, java, "{d}");
        }
    }

    #[test]
    fn strings_escape_as_jackson_does() {
        let mut out = String::new();
        write_str(&mut out, "a\"b\\c\nd\u{1}é/");
        assert_eq!(out, r#""a\"b\\c\nd\u0001é/""#);
    }
}
