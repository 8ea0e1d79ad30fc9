//! Schema contexts (`:.ctx:subject`, `/contexts`, the `/contexts/{ctx}/` base path) and
//! the `SubjectAccess` hook, through the REST API of a real server.

mod common;

use std::sync::Arc;

use common::Server;
use runnel_registry::{SchemaAction, SubjectAccess};
use serde_json::json;

const USER_V1: &str = r#"{"type":"record","name":"User","fields":[{"name":"name","type":"string"}]}"#;
const ORDER_V1: &str = r#"{"type":"record","name":"Order","fields":[{"name":"id","type":"long"}]}"#;

#[tokio::test]
async fn two_contexts_hold_independent_subjects_of_one_name() {
    let s = Server::start().await;
    let acme = s.post("/subjects/:.acme:users-value/versions", json!({"schema": USER_V1})).await;
    assert_eq!(acme.status, 200, "{:?}", acme.body);
    // globex's users-value is a different, incompatible record: its own subject, version 1.
    let globex = s.post("/subjects/:.globex:users-value/versions", json!({"schema": ORDER_V1})).await;
    assert_eq!(globex.status, 200, "{:?}", globex.body);
    assert_ne!(acme.body["id"], globex.body["id"]);
    // The same schema in another context has the same (global) id.
    let same = s.post("/subjects/:.globex:accounts-value/versions", json!({"schema": USER_V1})).await;
    assert_eq!(same.body["id"], acme.body["id"]);

    let latest = s.get("/subjects/:.acme:users-value/versions/latest").await;
    assert_eq!(latest.body["subject"], ":.acme:users-value");
    assert_eq!(latest.body["version"], 1);
    assert!(latest.body["schema"].as_str().unwrap().contains("User"));
    // The default context has no `users-value`.
    assert_eq!(s.get("/subjects/users-value/versions").await.code(), 40401);

    assert_eq!(s.get("/contexts").await.body, json!([".", ".acme", ".globex"]));
    let all = s.get("/subjects").await.body;
    assert_eq!(all, json!([":.acme:users-value", ":.globex:accounts-value", ":.globex:users-value"]));
    let acme_only = s.get("/subjects?subjectPrefix=:.acme:").await.body;
    assert_eq!(acme_only, json!([":.acme:users-value"]));

    // The base context path qualifies the subjects it names.
    assert_eq!(s.get("/contexts/.acme/subjects").await.body, json!([":.acme:users-value"]));
    let v = s.get("/contexts/.globex/subjects/users-value/versions/1").await;
    assert_eq!(v.body["subject"], ":.globex:users-value");
    let put = s.put("/contexts/.acme/config/users-value", json!({"compatibility": "FULL"})).await;
    assert_eq!(put.status, 200, "{:?}", put.body);
    assert_eq!(s.get("/config/:.acme:users-value").await.body["compatibilityLevel"], "FULL");
    assert_eq!(s.get("/config/:.globex:users-value").await.code(), 40408, "globex's is untouched");
    let reg = s.post("/contexts/.acme/subjects/orders-value/versions", json!({"schema": ORDER_V1})).await;
    assert_eq!(reg.status, 200);
    assert_eq!(s.get("/subjects/:.acme:orders-value/versions").await.body, json!([1]));

    // The default context spelled out is the bare subject.
    let bare = s.post("/subjects/:.:plain-value/versions", json!({"schema": USER_V1})).await;
    assert_eq!(bare.body["id"], acme.body["id"]);
    assert_eq!(s.get("/subjects/plain-value/versions").await.body, json!([1]));
    // Context-wide configuration is not supported: refused, not applied globally.
    let ctx_config = s.put("/contexts/.acme/config", json!({"compatibility": "NONE"})).await;
    assert_ne!(ctx_config.status, 200);
    assert_eq!(s.get("/config").await.body["compatibilityLevel"], "BACKWARD");
}

#[tokio::test]
async fn unqualified_references_resolve_in_the_referrers_context() {
    let s = Server::start().await;
    let address =
        r#"{"type":"record","name":"Address","namespace":"x","fields":[{"name":"city","type":"string"}]}"#;
    let r = s.post("/subjects/:.acme:address/versions", json!({"schema": address})).await;
    assert_eq!(r.status, 200, "{:?}", r.body);
    let person =
        r#"{"type":"record","name":"Person","namespace":"x","fields":[{"name":"home","type":"x.Address"}]}"#;
    let refs = json!([{"name": "x.Address", "subject": "address", "version": 1}]);
    let r = s.post("/subjects/:.acme:person/versions", json!({"schema": person, "references": refs})).await;
    assert_eq!(r.status, 200, "resolved as :.acme:address: {:?}", r.body);
    // In the default context, `address` does not exist.
    let r = s.post("/subjects/person/versions", json!({"schema": person, "references": refs})).await;
    assert_ne!(r.status, 200, "{:?}", r.body);
}

/// A caller sees and writes only the subjects of context `.acme`; registry-wide settings
/// are read-only for it.
struct AcmeOnly;

impl SubjectAccess for AcmeOnly {
    fn check(&self, _: &http::Extensions, subject: Option<&str>, action: SchemaAction) -> Result<(), String> {
        match (subject, action) {
            (Some(s), _) if s.starts_with(":.acme:") => Ok(()),
            (None, SchemaAction::Read) => Ok(()),
            (_, SchemaAction::Read) => Err("missing permission schema-read".into()),
            (_, SchemaAction::Write) => Err("missing permission schema-write".into()),
        }
    }

    fn visible(&self, _: &http::Extensions, subject: &str) -> bool {
        subject.starts_with(":.acme:")
    }
}

#[tokio::test]
async fn the_access_hook_filters_hides_and_refuses() {
    let s = Server::start_with_access(Arc::new(AcmeOnly)).await;
    // Seed another tenant's subject behind the REST API's back (through the library).
    let foreign = s.registry.register(":.globex:secret-value", ORDER_V1).unwrap();
    let shared = s.registry.register(":.globex:shared-value", USER_V1).unwrap();
    let own = s.post("/subjects/:.acme:users-value/versions", json!({"schema": USER_V1})).await;
    assert_eq!(own.status, 200, "{:?}", own.body);
    assert_eq!(own.body["id"], shared.id);

    // Listings show only what the caller may see.
    assert_eq!(s.get("/subjects").await.body, json!([":.acme:users-value"]));
    assert_eq!(s.get("/contexts").await.body, json!([".", ".acme"]));
    // Another tenant's subject is answered as missing, never as forbidden.
    for path in [
        "/subjects/:.globex:secret-value/versions",
        "/subjects/:.globex:secret-value/versions/1",
        "/config/:.globex:secret-value",
        "/contexts/.globex/subjects/secret-value/versions",
    ] {
        let r = s.get(path).await;
        assert_eq!((r.status, r.code()), (404, 40401), "{path}: {:?}", r.body);
    }
    let missing = s.get("/subjects/:.globex:nothing-here/versions").await;
    assert_eq!(missing.code(), 40401, "a missing subject looks the same");
    // A schema id only another tenant uses is not found; a shared one shows only the caller's subjects.
    let r = s.get(&format!("/schemas/ids/{}", foreign.id)).await;
    assert_eq!((r.status, r.code()), (404, 40403), "{:?}", r.body);
    assert_eq!(s.get(&format!("/schemas/ids/{}/subjects", foreign.id)).await.code(), 40403);
    assert_eq!(s.get(&format!("/schemas/ids/{}", shared.id)).await.status, 200);
    let subjects = s.get(&format!("/schemas/ids/{}/subjects", shared.id)).await.body;
    assert_eq!(subjects, json!([":.acme:users-value"]));
    let versions = s.get(&format!("/schemas/ids/{}/versions", shared.id)).await.body;
    assert_eq!(versions, json!([{"subject": ":.acme:users-value", "version": 1}]));

    // Writes outside the caller's grants are 403 with 40301 naming the permission.
    let w = s.post("/subjects/:.globex:secret-value/versions", json!({"schema": ORDER_V1})).await;
    assert_eq!((w.status, w.code()), (403, 40301), "{:?}", w.body);
    assert!(w.body["message"].as_str().unwrap().contains("schema-write"));
    let d = s.delete("/subjects/:.globex:secret-value").await;
    assert_eq!((d.status, d.code()), (403, 40301));
    let g = s.put("/config", json!({"compatibility": "NONE"})).await;
    assert_eq!((g.status, g.code()), (403, 40301));
    assert_eq!(s.get("/config").await.status, 200, "registry-wide reads are allowed");
    // A reference into another tenant's context is refused as missing.
    let person = r#"{"type":"record","name":"P","fields":[{"name":"o","type":"Order"}]}"#;
    let refs = json!([{"name": "Order", "subject": ":.globex:secret-value", "version": 1}]);
    let r = s.post("/subjects/:.acme:p-value/versions", json!({"schema": person, "references": refs})).await;
    assert_eq!(r.code(), 40401, "{:?}", r.body);
    // Nothing changed for globex.
    assert_eq!(s.registry.versions(":.globex:secret-value", false).unwrap(), vec![1]);
}
