//! Fuzz target: arbitrary bytes as the JSON body of the registry's REST
//! requests that take one (register, lookup, compatibility checks, config and
//! mode updates), sent through the real axum router (`runnel_registry::router`)
//! over a real registry, without a socket.
//!
//! Input: byte 0 picks the request from `REQUESTS`; the rest is the body.
//! Requests that only read go to one registry shared by all inputs; requests
//! that write go to a freshly seeded registry (reused while failed writes leave
//! it unchanged, as its generation counter shows), so that every input runs
//! against the same state and a crash reproduces.
//!
//! Properties: no panic and never a 5xx; every answer is a JSON object with the
//! registry content type, and every error carries a Confluent `error_code` and
//! `message`. When a write succeeds, it took effect: a registered schema is found
//! by lookup with the same id and version and registering it again changes
//! nothing; a level or mode that was set reads back.

#![no_main]

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use axum::body::Body;
use axum::http::{header, Method, Request, StatusCode};
use axum::Router;
use libfuzzer_sys::fuzz_target;
use runnel_registry::{router, Registry, RegistryConfig, CONTENT_TYPE};
use serde_json::Value;
use tower::ServiceExt;

/// The subject every request names; it holds `schemas/user.avsc` as version 1.
const SUBJECT: &str = "fuzz-value";

/// (method, path, whether it writes).
const REQUESTS: &[(Method, &str, bool)] = &[
    (Method::POST, "/subjects/fuzz-value/versions", true),
    (Method::POST, "/subjects/fuzz-value", false),
    (Method::POST, "/compatibility/subjects/fuzz-value/versions?verbose=true", false),
    (Method::POST, "/compatibility/subjects/fuzz-value/versions/1?verbose=true", false),
    (Method::PUT, "/config/fuzz-value", true),
    (Method::PUT, "/config", true),
    (Method::PUT, "/mode/fuzz-value", true),
    (Method::PUT, "/mode?force=true", true),
];

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime")
    })
}

fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() { tempfile::tempdir_in(shm) } else { tempfile::tempdir() };
    dir.expect("a temporary directory")
}

/// A registry in `dir` holding `SUBJECT` version 1.
fn seeded_registry(dir: &Path) -> Registry {
    let registry = Registry::open(dir, RegistryConfig::default()).expect("open a registry");
    registry.register(SUBJECT, include_str!("../../schemas/user.avsc")).expect("register the seed schema");
    registry
}

/// The registry that read-only requests share, kept for the whole run.
fn shared_router() -> Router {
    static SHARED: OnceLock<(tempfile::TempDir, Registry)> = OnceLock::new();
    let (_, registry) = SHARED.get_or_init(|| {
        let dir = scratch_dir();
        let registry = seeded_registry(dir.path());
        (dir, registry)
    });
    router(registry.clone())
}

/// A seeded registry for write requests, with the directory that holds it.
type Scratch = (tempfile::TempDir, Registry);

/// Write requests that fail change nothing, so their registry is kept for the
/// next input (most fuzz inputs fail); one that changed anything is thrown away.
/// Either way every input starts from the same freshly seeded state.
static SCRATCH: Mutex<Option<Scratch>> = Mutex::new(None);

fn take_scratch() -> Scratch {
    let kept = SCRATCH.lock().unwrap_or_else(|e| e.into_inner()).take();
    match kept {
        Some(scratch) => scratch,
        None => {
            let dir = scratch_dir();
            let registry = seeded_registry(dir.path());
            (dir, registry)
        }
    }
}

fn give_back_if_unchanged(dir: tempfile::TempDir, registry: Registry) {
    static SEEDED_GENERATION: OnceLock<u64> = OnceLock::new();
    let seeded = *SEEDED_GENERATION.get_or_init(|| {
        let dir = scratch_dir();
        seeded_registry(dir.path()).generation()
    });
    if registry.generation() == seeded {
        *SCRATCH.lock().unwrap_or_else(|e| e.into_inner()) = Some((dir, registry));
    }
}

async fn call(app: &Router, method: Method, uri: &str, body: Vec<u8>) -> (StatusCode, Value) {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header(header::CONTENT_TYPE, CONTENT_TYPE)
        .body(Body::from(body))
        .expect("a well-formed request");
    let response = app.clone().oneshot(request).await.expect("the router is infallible");
    let status = response.status();
    assert!(!status.is_server_error(), "{uri}: answered {status}");
    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok());
    assert_eq!(content_type, Some(CONTENT_TYPE), "{uri}: wrong content type");
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX).await.expect("read the response body");
    let value: Value = serde_json::from_slice(&bytes).unwrap_or_else(|e| {
        panic!("{uri}: the answer is not JSON ({e}): {}", String::from_utf8_lossy(&bytes))
    });
    if !status.is_success() {
        assert!(value["error_code"].is_i64(), "{uri}: error without an error_code: {value}");
        assert!(value["message"].is_string(), "{uri}: error without a message: {value}");
    }
    (status, value)
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else { return };
    let (method, uri, writes) = &REQUESTS[usize::from(selector) % REQUESTS.len()];
    runtime().block_on(async {
        if !*writes {
            let (status, value) = call(&shared_router(), method.clone(), uri, body.to_vec()).await;
            if status.is_success() && uri.starts_with("/compatibility") {
                assert!(value["is_compatible"].is_boolean(), "{uri}: {value}");
                assert!(value["messages"].is_array(), "{uri}: verbose answer without messages: {value}");
            }
            return;
        }
        let (_dir, registry) = take_scratch();
        let app = router(registry.clone());
        let (status, value) = call(&app, method.clone(), uri, body.to_vec()).await;
        if !status.is_success() {
            give_back_if_unchanged(_dir, registry);
            return;
        }
        if uri.starts_with("/subjects/") {
            let (id, version) = (&value["id"], &value["version"]);
            assert!(id.is_u64() && version.is_i64(), "registration answered {value}");
            let (s, found) = call(&app, Method::POST, "/subjects/fuzz-value", body.to_vec()).await;
            assert_eq!(s, StatusCode::OK, "a registered schema is not found by lookup: {found}");
            assert_eq!((&found["id"], &found["version"]), (id, version), "lookup disagrees with register");
            let (s, again) = call(&app, Method::POST, uri, body.to_vec()).await;
            assert_eq!(s, StatusCode::OK, "registering the same schema again failed: {again}");
            assert_eq!(
                (&again["id"], &again["version"]),
                (id, version),
                "a repeated registration changed things"
            );
        } else {
            let key = if uri.starts_with("/config") { "compatibility" } else { "mode" };
            let set = value[key].as_str().unwrap_or_else(|| panic!("{uri} answered {value}")).to_owned();
            let get = uri.split('?').next().unwrap_or(uri);
            let (s, read) = call(&app, Method::GET, get, Vec::new()).await;
            assert_eq!(s, StatusCode::OK, "GET {get} failed after PUT: {read}");
            let read_key = if key == "compatibility" { "compatibilityLevel" } else { "mode" };
            assert_eq!(read[read_key].as_str(), Some(set.as_str()), "GET {get} after PUT {value}: {read}");
        }
    });
});
