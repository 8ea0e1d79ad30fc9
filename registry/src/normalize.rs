//! Schema identity: the normalized form two schemas share exactly when they differ
//! only in formatting.
//!
//! The Parsing Canonical Form of the Avro specification drops everything that does
//! not change the binary encoding, including defaults, aliases and logical types.
//! Those do change how data resolves (a new default makes a field optional to
//! readers), so a registry that keyed schemas by the canonical form alone would
//! answer "already registered" for a schema that is not the same. The normalized
//! form is therefore the canonical form (full names, fixed key order, no
//! whitespace, no docs) plus the attributes that matter for resolution or meaning:
//! field and enum `default`, `aliases` (as full names, sorted), `logicalType`,
//! `precision`, `scale`, and a non-default field `order`.

use serde_json::{Map, Value};

/// The primitive type names.
pub(crate) const PRIMITIVES: [&str; 8] =
    ["null", "boolean", "int", "long", "float", "double", "bytes", "string"];

/// The normalized form of a schema the Avro parser already accepted.
///
/// Fails (with a reason) only on JSON shapes the specification does not allow,
/// which a parsed schema never has; it never panics.
pub fn normalized_form(schema: &Value) -> Result<String, String> {
    let value = normalize(schema, "")?;
    serde_json::to_string(&value).map_err(|e| e.to_string())
}

fn normalize(schema: &Value, namespace: &str) -> Result<Value, String> {
    match schema {
        Value::String(name) => Ok(Value::String(if PRIMITIVES.contains(&name.as_str()) {
            name.clone()
        } else {
            full_name(name, namespace)
        })),
        Value::Array(branches) => {
            branches.iter().map(|b| normalize(b, namespace)).collect::<Result<Vec<_>, _>>().map(Value::Array)
        }
        Value::Object(obj) => normalize_object(obj, namespace),
        other => Err(format!("{other} is not a schema")),
    }
}

fn normalize_object(obj: &Map<String, Value>, namespace: &str) -> Result<Value, String> {
    let ty = obj.get("type").ok_or("a schema object must have a \"type\"")?;
    let ty_name = match ty {
        Value::String(t) => t.as_str(),
        // `{"type": {...}}` or `{"type": [...]}`: the object only wraps another schema.
        nested => return normalize(nested, namespace),
    };
    let mut out = Map::new();
    match ty_name {
        "record" | "error" => {
            let (name, inner_ns) = named(obj, namespace)?;
            out.insert("name".into(), Value::String(name));
            out.insert("type".into(), Value::String(ty_name.into()));
            let fields = obj.get("fields").and_then(Value::as_array).ok_or("a record needs \"fields\"")?;
            let mut norm_fields = Vec::with_capacity(fields.len());
            for field in fields {
                norm_fields.push(normalize_field(field, &inner_ns)?);
            }
            out.insert("fields".into(), Value::Array(norm_fields));
            push_aliases(&mut out, obj, &inner_ns, true);
        }
        "enum" => {
            let (name, inner_ns) = named(obj, namespace)?;
            out.insert("name".into(), Value::String(name));
            out.insert("type".into(), Value::String("enum".into()));
            out.insert("symbols".into(), obj.get("symbols").cloned().ok_or("an enum needs \"symbols\"")?);
            if let Some(default) = obj.get("default") {
                out.insert("default".into(), default.clone());
            }
            push_aliases(&mut out, obj, &inner_ns, true);
        }
        "fixed" => {
            let (name, inner_ns) = named(obj, namespace)?;
            out.insert("name".into(), Value::String(name));
            out.insert("type".into(), Value::String("fixed".into()));
            out.insert("size".into(), obj.get("size").cloned().ok_or("a fixed needs \"size\"")?);
            push_logical(&mut out, obj);
            push_aliases(&mut out, obj, &inner_ns, true);
        }
        "array" => {
            out.insert("type".into(), Value::String("array".into()));
            let items = obj.get("items").ok_or("an array needs \"items\"")?;
            out.insert("items".into(), normalize(items, namespace)?);
        }
        "map" => {
            out.insert("type".into(), Value::String("map".into()));
            let values = obj.get("values").ok_or("a map needs \"values\"")?;
            out.insert("values".into(), normalize(values, namespace)?);
        }
        primitive if PRIMITIVES.contains(&primitive) => {
            if obj.get("logicalType").is_none() {
                // [PRIMITIVES]: `{"type": "int"}` is `"int"`.
                return Ok(Value::String(primitive.into()));
            }
            out.insert("type".into(), Value::String(primitive.into()));
            push_logical(&mut out, obj);
        }
        // A reference to a named type, written as an object.
        reference => return Ok(Value::String(full_name(reference, namespace))),
    }
    Ok(Value::Object(out))
}

fn normalize_field(field: &Value, namespace: &str) -> Result<Value, String> {
    let obj = field.as_object().ok_or("a record field must be an object")?;
    let mut out = Map::new();
    let name = obj.get("name").and_then(Value::as_str).ok_or("a record field needs a \"name\"")?;
    out.insert("name".into(), Value::String(name.into()));
    let ty = obj.get("type").ok_or("a record field needs a \"type\"")?;
    out.insert("type".into(), normalize(ty, namespace)?);
    if let Some(default) = obj.get("default") {
        out.insert("default".into(), default.clone());
    }
    // Field aliases are plain names, not namespaced.
    push_aliases(&mut out, obj, namespace, false);
    if let Some(order) = obj.get("order").and_then(Value::as_str) {
        if order != "ascending" {
            out.insert("order".into(), Value::String(order.into()));
        }
    }
    Ok(Value::Object(out))
}

/// The full name of a named type and the namespace its own fields resolve in.
fn named(obj: &Map<String, Value>, enclosing: &str) -> Result<(String, String), String> {
    let name = obj.get("name").and_then(Value::as_str).ok_or("a named type needs a \"name\"")?;
    if let Some((ns, _)) = name.rsplit_once('.') {
        return Ok((name.to_owned(), ns.to_owned()));
    }
    let ns = match obj.get("namespace") {
        Some(Value::String(ns)) => ns.clone(),
        Some(Value::Null) => String::new(),
        _ => enclosing.to_owned(),
    };
    Ok((full_name(name, &ns), ns))
}

fn full_name(name: &str, namespace: &str) -> String {
    if name.contains('.') || namespace.is_empty() {
        name.to_owned()
    } else {
        format!("{namespace}.{name}")
    }
}

fn push_aliases(out: &mut Map<String, Value>, obj: &Map<String, Value>, namespace: &str, qualify: bool) {
    let Some(aliases) = obj.get("aliases").and_then(Value::as_array) else { return };
    let mut names: Vec<String> = aliases
        .iter()
        .filter_map(Value::as_str)
        .map(|a| if qualify { full_name(a, namespace) } else { a.to_owned() })
        .collect();
    if names.is_empty() {
        return;
    }
    // Alias order carries no meaning.
    names.sort();
    names.dedup();
    out.insert("aliases".into(), Value::Array(names.into_iter().map(Value::String).collect()));
}

fn push_logical(out: &mut Map<String, Value>, obj: &Map<String, Value>) {
    for key in ["logicalType", "precision", "scale"] {
        if let Some(v) = obj.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    // `scale` defaults to 0 for decimals: writing it or not is the same schema.
    if out.get("scale").and_then(Value::as_i64) == Some(0) {
        out.remove("scale");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        normalized_form(&serde_json::from_str(s).unwrap()).unwrap()
    }

    #[test]
    fn formatting_key_order_docs_and_defaulted_attributes_do_not_matter() {
        let a = r#"{"type":"record","name":"User","namespace":"com.x","fields":[
            {"name":"name","type":"string"},{"name":"age","type":{"type":"int"},"order":"ascending"}]}"#;
        let b = r#"{ "fields" : [ {"type":"string","name":"name","doc":"who"},
            {"name":"age","type":"int"} ], "doc": "a user", "name": "com.x.User", "type": "record" }"#;
        assert_eq!(norm(a), norm(b));
    }

    #[test]
    fn defaults_aliases_and_logical_types_do_matter() {
        let base = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
        let with_default = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","default":1}]}"#;
        let with_alias =
            r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int","aliases":["b"]}]}"#;
        let with_logical = r#"{"type":"record","name":"R","fields":[{"name":"a","type":{"type":"int","logicalType":"date"}}]}"#;
        let forms = [norm(base), norm(with_default), norm(with_alias), norm(with_logical)];
        for i in 0..forms.len() {
            for j in i + 1..forms.len() {
                assert_ne!(forms[i], forms[j]);
            }
        }
    }

    #[test]
    fn names_resolve_to_full_names_in_the_enclosing_namespace() {
        let short = r#"{"type":"record","name":"A","namespace":"n","fields":[
            {"name":"b","type":{"type":"enum","name":"E","symbols":["X"]}},{"name":"c","type":"E"}]}"#;
        let full = r#"{"type":"record","name":"n.A","fields":[
            {"name":"b","type":{"type":"enum","name":"n.E","symbols":["X"]}},{"name":"c","type":"n.E"}]}"#;
        assert_eq!(norm(short), norm(full));
        assert!(norm(short).contains(r#""c","type":"n.E""#));
    }

    #[test]
    fn refuses_non_schema_json_without_panicking() {
        assert!(normalized_form(&serde_json::json!(3)).is_err());
        assert!(normalized_form(&serde_json::json!({"type": "record", "name": "R"})).is_err());
    }
}
