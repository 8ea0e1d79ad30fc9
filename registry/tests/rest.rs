//! The REST API against a real server over HTTP: registration, lookups, ids,
//! persistence, deletes, references, modes, configuration and every error code.

mod common;

use common::{user, Server};
use runnel_registry::RegistryConfig;
use serde_json::json;

const NAME: &str = r#"{"name":"name","type":"string"}"#;
const AGE: &str = r#"{"name":"age","type":"int","default":0}"#;

#[tokio::test]
async fn registers_looks_up_and_keeps_ids_and_versions_across_restart() {
    let server = Server::start().await;
    let v1 = user(&[NAME]);
    let v2 = user(&[NAME, AGE]);
    let reply = server.register("users-value", &v1).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.content_type, "application/vnd.schemaregistry.v1+json");
    assert_eq!(reply.body["id"], 1);
    assert_eq!(reply.body["version"], 1);
    let id2 = server.register_ok("users-value", &v2).await;
    assert_eq!(id2, 2);

    let server = server.restart().await;
    let latest = server.get("/subjects/users-value/versions/latest").await;
    assert_eq!(latest.body, json!({"subject": "users-value", "version": 2, "id": 2, "schema": v2}));
    assert_eq!(server.get("/subjects/users-value/versions/-1").await.body["version"], 2);
    assert_eq!(server.get("/subjects/users-value/versions/1").await.body["schema"], json!(v1));
    assert_eq!(server.get("/subjects/users-value/versions").await.body, json!([1, 2]));
    assert_eq!(server.get("/subjects").await.body, json!(["users-value"]));
    assert_eq!(server.get("/schemas/ids/1").await.body, json!({"schema": v1}));
    let lookup = server.post("/subjects/users-value", json!({"schema": v1})).await;
    assert_eq!((lookup.body["id"].clone(), lookup.body["version"].clone()), (json!(1), json!(1)));
    // The id counter survived too: a new schema gets 3, not a reused id.
    assert_eq!(
        server
            .register_ok("users-value", &user(&[NAME, AGE, r#"{"name":"x","type":"int","default":1}"#]))
            .await,
        3
    );
}

#[tokio::test]
async fn one_schema_under_two_subjects_has_one_id() {
    let server = Server::start().await;
    let schema = user(&[NAME]);
    let a = server.register_ok("a", &schema).await;
    let b = server.register_ok("b", &schema).await;
    assert_eq!(a, b);
    assert_eq!(server.get(&format!("/schemas/ids/{a}/subjects")).await.body, json!(["a", "b"]));
    assert_eq!(
        server.get(&format!("/schemas/ids/{a}/versions")).await.body,
        json!([{"subject": "a", "version": 1}, {"subject": "b", "version": 1}])
    );
    assert_eq!(server.registry.version_of_id("b", a as u32).unwrap(), Some(1));
    assert_eq!(server.registry.version_of_id("b", 99).unwrap(), None);
}

#[tokio::test]
async fn formatting_only_changes_return_the_existing_version() {
    let server = Server::start().await;
    let compact = user(&[NAME, AGE]);
    server.register_ok("s", &compact).await;
    let generation = server.registry.generation();
    let reformatted = r#"{
        "namespace": "com.example", "doc": "people", "type": "record", "name": "User",
        "fields": [ { "type": "string", "name": "name", "order": "ascending" },
                    { "default": 0, "name": "age", "type": {"type": "int"} } ] }"#;
    let reply = server.register("s", reformatted).await;
    assert_eq!((reply.body["id"].clone(), reply.body["version"].clone()), (json!(1), json!(1)));
    assert_eq!(server.registry.generation(), generation, "nothing was written");
    let found = server.post("/subjects/s", json!({"schema": reformatted})).await;
    assert_eq!(found.body["version"], 1);
    // A changed default is not formatting: it is a new version.
    let new_default = user(&[NAME, r#"{"name":"age","type":"int","default":7}"#]);
    let reply = server.register("s", &new_default).await;
    assert_eq!((reply.body["id"].clone(), reply.body["version"].clone()), (json!(2), json!(2)));
}

#[tokio::test]
async fn raw_schema_and_type_endpoints_answer_confluent_shapes() {
    let server = Server::start().await;
    let schema = user(&[NAME]);
    server.register_ok("s", &schema).await;
    let raw = server.get("/subjects/s/versions/1/schema").await;
    assert_eq!(raw.body, serde_json::from_str::<serde_json::Value>(&schema).unwrap());
    assert_eq!(server.get("/schemas/ids/1/schema").await.body, raw.body);
    assert_eq!(server.get("/schemas/types").await.body, json!(["AVRO"]));
}

#[tokio::test]
async fn unknown_subject_version_and_id_get_their_error_codes() {
    let server = Server::start().await;
    server.register_ok("s", &user(&[NAME])).await;
    for (path, status, code) in [
        ("/subjects/nope/versions", 404, 40401),
        ("/subjects/nope/versions/1", 404, 40401),
        ("/subjects/s/versions/9", 404, 40402),
        ("/subjects/s/versions/abc", 422, 42202),
        ("/subjects/s/versions/0", 422, 42202),
        ("/schemas/ids/77", 404, 40403),
        ("/schemas/ids/x", 404, 40403),
        ("/config/s", 404, 40408),
        ("/mode/s", 404, 40409),
        ("/no/such/route", 404, 404),
    ] {
        let reply = server.get(path).await;
        assert_eq!((reply.status, reply.code()), (status, code), "GET {path}: {:?}", reply.body);
        assert!(reply.body["message"].as_str().is_some_and(|m| !m.is_empty()), "{path}");
    }
    let lookup = server.post("/subjects/s", json!({"schema": user(&[AGE])})).await;
    assert_eq!((lookup.status, lookup.code()), (404, 40403));
    let wrong_method = server.put("/subjects", json!({})).await;
    assert_eq!((wrong_method.status, wrong_method.code()), (405, 405));
    let lookup = server.post("/subjects/nope", json!({"schema": user(&[AGE])})).await;
    assert_eq!((lookup.status, lookup.code()), (404, 40401));
}

#[tokio::test]
async fn bad_bodies_are_refused_with_confluent_errors_and_change_nothing() {
    let server =
        Server::start_with(RegistryConfig { max_schema_bytes: 2_000, ..RegistryConfig::default() }).await;
    server.register_ok("s", &user(&[NAME])).await;
    let generation = server.registry.generation();

    let invalid_avro = server.register("s", r#"{"type":"record","name":"X"}"#).await;
    assert_eq!((invalid_avro.status, invalid_avro.code()), (422, 42201));
    let not_json = server.post_raw("/subjects/s/versions", Some("application/json"), "{oops".into()).await;
    assert_eq!((not_json.status, not_json.code()), (422, 42201), "{:?}", not_json.body);
    let no_schema = server.post("/subjects/s/versions", json!({"schemaType": "AVRO"})).await;
    assert_eq!(no_schema.code(), 42201);
    let protobuf = server
        .post("/subjects/s/versions", json!({"schema": "syntax = \"proto3\";", "schemaType": "PROTOBUF"}))
        .await;
    assert_eq!(protobuf.code(), 42201);
    let huge_doc = "d".repeat(3_000);
    let huge = user(&[&format!(r#"{{"name":"n","type":"string","doc":"{huge_doc}"}}"#)]);
    let too_large = server.register("s", &huge).await;
    assert_eq!((too_large.status, too_large.code()), (422, 42209), "{:?}", too_large.body);
    // A body far over the limit is refused before it is read whole, with the same code.
    let huge_body = json!({"schema": "x".repeat(200_000)}).to_string();
    let refused = server.post_raw("/subjects/s/versions", None, huge_body).await;
    assert_eq!((refused.status, refused.code()), (422, 42209), "{:?}", refused.body);
    let bad_subject = server.register("bad%01subject", &user(&[NAME])).await;
    assert_eq!((bad_subject.status, bad_subject.code()), (422, 42208));
    let bad_level = server.put("/config", json!({"compatibility": "SIDEWAYS"})).await;
    assert_eq!((bad_level.status, bad_level.code()), (422, 42203));
    let bad_mode = server.put("/mode", json!({"mode": "WRITEONLY"})).await;
    assert_eq!((bad_mode.status, bad_mode.code()), (422, 42204));

    assert_eq!(server.registry.generation(), generation, "no refused request wrote anything");
    assert_eq!(server.get("/subjects/s/versions").await.body, json!([1]));
    assert_eq!(server.get("/config").await.body, json!({"compatibilityLevel": "BACKWARD"}));
    // The id counter was not consumed by the refusals.
    assert_eq!(server.register_ok("t", &user(&[AGE])).await, 2);
}

#[tokio::test]
async fn accepts_every_registry_content_type_and_none() {
    let server = Server::start().await;
    let schema = user(&[NAME]);
    let body = json!({"schema": schema}).to_string();
    for ct in [
        Some("application/vnd.schemaregistry.v1+json"),
        Some("application/vnd.schemaregistry+json"),
        Some("application/json"),
        None,
    ] {
        let reply = server.post_raw("/subjects/s/versions", ct, body.clone()).await;
        assert_eq!(reply.status, 200, "{ct:?}: {:?}", reply.body);
        assert_eq!(reply.body["id"], 1);
        assert_eq!(reply.content_type, "application/vnd.schemaregistry.v1+json");
    }
}

#[tokio::test]
async fn soft_and_permanent_deletes_follow_confluent_rules() {
    let server = Server::start().await;
    let v1 = user(&[NAME]);
    let v2 = user(&[NAME, AGE]);
    server.register_ok("s", &v1).await;
    server.register_ok("s", &v2).await;

    let permanent_first = server.delete("/subjects/s/versions/2?permanent=true").await;
    assert_eq!((permanent_first.status, permanent_first.code()), (404, 40407));
    assert_eq!(server.delete("/subjects/s/versions/2").await.body, json!(2));
    let again = server.delete("/subjects/s/versions/2").await;
    assert_eq!((again.status, again.code()), (404, 40406));
    assert_eq!(server.get("/subjects/s/versions/2").await.code(), 40402);
    assert_eq!(server.get("/subjects/s/versions/2?deleted=true").await.body["id"], 2);
    assert_eq!(server.get("/subjects/s/versions").await.body, json!([1]));
    assert_eq!(server.get("/subjects/s/versions?deleted=true").await.body, json!([1, 2]));
    assert_eq!(server.get("/subjects/s/versions/latest").await.body["version"], 1);
    assert_eq!(server.post("/subjects/s", json!({"schema": v2})).await.code(), 40403);
    assert_eq!(server.post("/subjects/s?deleted=true", json!({"schema": v2})).await.body["version"], 2);
    assert_eq!(server.delete("/subjects/s/versions/2?permanent=true").await.body, json!(2));
    assert_eq!(server.get("/subjects/s/versions?deleted=true").await.body, json!([1]));

    let subject_permanent_first = server.delete("/subjects/s?permanent=true").await;
    assert_eq!((subject_permanent_first.status, subject_permanent_first.code()), (404, 40405));
    assert_eq!(server.delete("/subjects/s").await.body, json!([1]));
    assert_eq!(server.delete("/subjects/s").await.code(), 40404);
    assert_eq!(server.get("/subjects").await.body, json!([]));
    assert_eq!(server.get("/subjects?deleted=true").await.body, json!(["s"]));
    assert_eq!(server.get("/subjects/s/versions").await.code(), 40401);
    assert_eq!(server.delete("/subjects/s?permanent=true").await.body, json!([1]));
    assert_eq!(server.get("/subjects?deleted=true").await.body, json!([]));
    assert_eq!(server.delete("/subjects/s").await.code(), 40401);

    // Ids are never reused: the old schema keeps its id, versions restart at 1.
    let again = server.register("s", &v2).await;
    assert_eq!((again.body["id"].clone(), again.body["version"].clone()), (json!(2), json!(1)));
    assert_eq!(
        server.register_ok("s", &user(&[NAME, AGE, r#"{"name":"z","type":"int","default":0}"#])).await,
        3
    );
}

#[tokio::test]
async fn references_resolve_list_their_users_and_protect_what_they_name() {
    let server = Server::start().await;
    let address = r#"{"type":"record","name":"Address","namespace":"com.example","fields":[{"name":"city","type":"string"}]}"#;
    let address_id = server.register_ok("address", address).await;
    let person = user(&[NAME, r#"{"name":"home","type":"Address"}"#]);
    let refs = json!([{"name": "com.example.Address", "subject": "address", "version": 1}]);
    let reply = server.post("/subjects/person/versions", json!({"schema": person, "references": refs})).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let person_id = reply.body["id"].as_u64().unwrap();
    assert_ne!(person_id, address_id);

    assert_eq!(server.get("/subjects/person/versions/1").await.body["references"], refs);
    assert_eq!(server.get(&format!("/schemas/ids/{person_id}")).await.body["references"], refs);
    assert_eq!(server.get("/subjects/address/versions/1/referencedby").await.body, json!([person_id]));
    let found = server.post("/subjects/person", json!({"schema": person, "references": refs})).await;
    assert_eq!(found.body["id"], person_id);
    // The parsed schema is self-contained: the broker can decode with it alone.
    let parsed = server.registry.schema_by_id(person_id as u32).unwrap();
    assert!(parsed.canonical_str().contains("com.example.Address"));

    let refused = server.delete("/subjects/address/versions/1").await;
    assert_eq!((refused.status, refused.code()), (422, 42206));
    assert_eq!(server.delete("/subjects/address").await.code(), 42206);
    let dangling = json!([{"name": "com.example.Address", "subject": "address", "version": 5}]);
    let reply =
        server.post("/subjects/other/versions", json!({"schema": person, "references": dangling})).await;
    assert_eq!((reply.status, reply.code()), (422, 42201));
    let unreferenced = server.register("other", &person).await;
    assert_eq!(unreferenced.code(), 42201, "without the reference Address is unknown");

    // Once the user is gone, the referenced schema can go.
    server.delete("/subjects/person").await;
    assert_eq!(server.delete("/subjects/address/versions/1").await.body, json!(1));

    let server = server.restart().await;
    assert!(server.registry.schema_by_id(person_id as u32).unwrap().canonical_str().contains("city"));
}

#[tokio::test]
async fn read_only_mode_refuses_writes_and_import_mode_takes_explicit_ids() {
    let server = Server::start().await;
    server.register_ok("s", &user(&[NAME])).await;
    assert_eq!(server.get("/mode").await.body, json!({"mode": "READWRITE"}));
    assert_eq!(server.put("/mode/s", json!({"mode": "READONLY"})).await.body, json!({"mode": "READONLY"}));
    assert_eq!(server.get("/mode/s").await.body, json!({"mode": "READONLY"}));
    let refused = server.register("s", &user(&[NAME, AGE])).await;
    assert_eq!((refused.status, refused.code()), (422, 42205));
    assert_eq!(server.delete("/subjects/s").await.code(), 42205);
    // Other subjects still follow the global mode.
    server.register_ok("t", &user(&[AGE])).await;
    assert_eq!(server.delete("/mode/s").await.body, json!({"mode": "READONLY"}));
    assert_eq!(server.get("/mode/s?defaultToGlobal=true").await.body, json!({"mode": "READWRITE"}));

    // IMPORT needs an empty registry unless forced.
    assert_eq!(server.put("/mode", json!({"mode": "IMPORT"})).await.code(), 42205);
    let explicit = json!({"schema": user(&[NAME, AGE]), "id": 100, "version": 7});
    assert_eq!(server.post("/subjects/imported/versions", explicit.clone()).await.code(), 42205);
    assert_eq!(server.put("/mode?force=true", json!({"mode": "IMPORT"})).await.status, 200);
    let reply = server.post("/subjects/imported/versions", explicit).await;
    assert_eq!(
        (reply.body["id"].clone(), reply.body["version"].clone()),
        (json!(100), json!(7)),
        "{:?}",
        reply.body
    );
    let taken = json!({"schema": user(&[r#"{"name":"q","type":"long"}"#]), "id": 100, "version": 8});
    assert_eq!(server.post("/subjects/imported/versions", taken).await.code(), 42207);
    assert_eq!(server.put("/mode", json!({"mode": "READWRITE"})).await.status, 200);
    // New ids continue after the imported one.
    assert_eq!(server.register_ok("u", &user(&[r#"{"name":"w","type":"double"}"#])).await, 101);
}

#[tokio::test]
async fn compatibility_config_falls_back_to_the_global_level() {
    let server = Server::start().await;
    assert_eq!(server.get("/config").await.body, json!({"compatibilityLevel": "BACKWARD"}));
    assert_eq!(
        server.put("/config", json!({"compatibility": "full"})).await.body,
        json!({"compatibility": "FULL"})
    );
    assert_eq!(
        server.get("/config/s?defaultToGlobal=true").await.body,
        json!({"compatibilityLevel": "FULL"})
    );
    server.set_level("s", "NONE").await;
    assert_eq!(server.get("/config/s").await.body, json!({"compatibilityLevel": "NONE"}));
    let server = server.restart().await;
    assert_eq!(server.get("/config/s").await.body, json!({"compatibilityLevel": "NONE"}));
    assert_eq!(server.delete("/config/s").await.body, json!({"compatibilityLevel": "NONE"}));
    assert_eq!(server.get("/config/s").await.code(), 40408);
    assert_eq!(server.delete("/config").await.body, json!({"compatibilityLevel": "FULL"}));
    assert_eq!(server.get("/config").await.body, json!({"compatibilityLevel": "BACKWARD"}));
}

#[tokio::test]
async fn concurrent_registrations_of_one_schema_yield_one_id_and_one_version() {
    let server = Server::start().await;
    let schema = user(&[NAME, AGE]);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..24 {
        let (url, schema) = (server.url.clone(), schema.clone());
        tasks.spawn(async move {
            let subject = if i % 2 == 0 { "even" } else { "odd" };
            let resp = reqwest::Client::new()
                .post(format!("{url}/subjects/{subject}/versions"))
                .body(json!({"schema": schema}).to_string())
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), 200);
            resp.json::<serde_json::Value>().await.unwrap()
        });
    }
    let replies = tasks.join_all().await;
    assert!(replies.iter().all(|r| r["id"] == 1 && r["version"] == 1), "{replies:?}");
    assert_eq!(server.get("/subjects/even/versions").await.body, json!([1]));
    assert_eq!(server.get("/subjects/odd/versions").await.body, json!([1]));
}

#[tokio::test]
async fn lookups_by_id_are_served_from_the_cache() {
    let server = Server::start().await;
    let id = server.register_ok("s", &user(&[NAME])).await as u32;
    let a = server.registry.schema_by_id(id).unwrap();
    let b = server.registry.schema_by_id(id).unwrap();
    assert!(std::sync::Arc::ptr_eq(&a, &b), "the same parsed schema, not a re-parse");
    assert_eq!(server.registry.schema_by_id(id + 1).unwrap_err().error_code(), 40403);
}

#[tokio::test]
async fn schema_text_comes_back_compact_in_javas_order_also_after_restart() {
    let server = Server::start().await;
    let pretty = r#"{
        "namespace": "com.example",
        "type": "record",
        "name": "User",
        "doc": "A user.",
        "fields": [
            { "type": "string", "name": "name", "doc": "Full name", "x-pii": true },
            { "default": 0, "name": "age", "type": { "type": "int" }, "aliases": ["years"], "order": "ascending" },
            { "name": "born", "type": { "logicalType": "date", "type": "int" } },
            { "name": "kind", "type": { "symbols": ["A", "B"], "type": "enum", "name": "Kind", "default": "A" } },
            { "name": "other", "type": [ "null", "com.example.Kind" ], "default": null }
        ],
        "aliases": ["com.example.Person", "legacy.Human"],
        "owner": "team-a"
    }"#;
    let compact = concat!(
        r#"{"type":"record","name":"User","namespace":"com.example","doc":"A user.","fields":["#,
        r#"{"name":"name","type":"string","doc":"Full name","x-pii":true},"#,
        r#"{"name":"age","type":"int","default":0,"aliases":["years"]},"#,
        r#"{"name":"born","type":{"type":"int","logicalType":"date"}},"#,
        r#"{"name":"kind","type":{"type":"enum","name":"Kind","symbols":["A","B"],"default":"A"}},"#,
        r#"{"name":"other","type":["null","Kind"],"default":null}],"#,
        r#""owner":"team-a","aliases":["Person","legacy.Human"]}"#
    );
    let reply = server.register("users-value", pretty).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.body["schema"], compact);
    let id = reply.body["id"].as_u64().unwrap();
    // The compact text is the same schema: same id, same version, nothing written.
    assert_eq!(server.register_ok("users-value", compact).await, id);
    assert_eq!(server.get("/subjects/users-value/versions").await.body, json!([1]));

    let server = server.restart().await;
    assert_eq!(server.get(&format!("/schemas/ids/{id}")).await.body, json!({"schema": compact}));
    assert_eq!(server.get_text(&format!("/schemas/ids/{id}/schema")).await, compact);
    assert_eq!(server.get_text("/subjects/users-value/versions/latest/schema").await, compact);
    assert_eq!(server.get("/subjects/users-value/versions/1").await.body["schema"], compact);
    let found = server.post("/subjects/users-value", json!({"schema": pretty})).await;
    assert_eq!((found.body["id"].as_u64(), found.body["schema"].as_str()), (Some(id), Some(compact)));

    // A referencing schema names the referenced type as Java would: short in its namespace.
    let address = r#"{ "type": "record", "namespace": "com.example", "name": "Address",
        "fields": [ { "name": "city", "type": "string" } ] }"#;
    server.register_ok("address", address).await;
    let person = r#"{"name": "Person", "type": "record", "namespace": "com.example",
        "fields": [{"name": "home", "type": "com.example.Address"}, {"name": "work", "type": ["null", "Address"]}]}"#;
    let refs = json!([{"name": "com.example.Address", "subject": "address", "version": 1}]);
    let reply = server.post("/subjects/person/versions", json!({"schema": person, "references": refs})).await;
    assert_eq!(
        reply.body["schema"],
        r#"{"type":"record","name":"Person","namespace":"com.example","fields":[{"name":"home","type":"Address"},{"name":"work","type":["null","Address"]}]}"#
    );
}
