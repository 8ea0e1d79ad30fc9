//! Test helpers: a real registry REST server on a free port over a temporary data
//! directory, and a small JSON-over-HTTP client for it.

#![allow(dead_code)] // each test binary uses a different part of the helpers

use std::path::{Path, PathBuf};

use reqwest::Method;
use std::sync::Arc;

use runnel_registry::{router, router_with_access, Registry, RegistryConfig, SubjectAccess};
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A running registry server.
pub struct Server {
    pub url: String,
    pub registry: Registry,
    dir: PathBuf,
    /// Keeps the temporary directory alive across restarts.
    _tmp: Option<tempfile::TempDir>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    http: reqwest::Client,
}

/// A response: status, and the body as JSON (or as a JSON string if it was not JSON).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub content_type: String,
}

impl Reply {
    /// The Confluent error code of an error reply (0 if there is none).
    pub fn code(&self) -> u64 {
        self.body["error_code"].as_u64().unwrap_or(0)
    }
}

impl Server {
    /// A server over a fresh temporary directory with the default configuration.
    pub async fn start() -> Server {
        Self::start_with(RegistryConfig::default()).await
    }

    /// A server over a fresh temporary directory.
    pub async fn start_with(config: RegistryConfig) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut server = Self::start_in(&dir, config).await;
        server._tmp = Some(tmp);
        server
    }

    /// A server over a fresh temporary directory whose REST API consults `access`.
    pub async fn start_with_access(access: Arc<dyn SubjectAccess>) -> Server {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        let mut server = Self::start_app(&dir, RegistryConfig::default(), Some(access)).await;
        server._tmp = Some(tmp);
        server
    }

    /// A server over `dir`.
    pub async fn start_in(dir: &Path, config: RegistryConfig) -> Server {
        Self::start_app(dir, config, None).await
    }

    async fn start_app(dir: &Path, config: RegistryConfig, access: Option<Arc<dyn SubjectAccess>>) -> Server {
        let registry = Registry::open(dir, config).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let app = match access {
            Some(access) => router_with_access(registry.clone(), access),
            None => router(registry.clone()),
        };
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = rx.await;
                })
                .await
                .unwrap();
        });
        Server {
            url,
            registry,
            dir: dir.to_path_buf(),
            _tmp: None,
            shutdown: Some(tx),
            task: Some(task),
            http: reqwest::Client::new(),
        }
    }

    /// Stops the server, closes the store, and starts a new server over the same directory.
    pub async fn restart(mut self) -> Server {
        let tmp = self._tmp.take();
        let dir = self.dir.clone();
        self.stop().await;
        let mut server = Self::start_in(&dir, RegistryConfig::default()).await;
        server._tmp = tmp;
        server
    }

    async fn stop(mut self) {
        // Drop the client first so its pooled connections close and shutdown completes.
        self.http = reqwest::Client::new();
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap();
        }
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Reply {
        let mut req = self.http.request(method, format!("{}{}", self.url, path));
        if let Some(body) = body {
            req = req.header("content-type", "application/vnd.schemaregistry.v1+json").body(body.to_string());
        }
        reply(req.send().await.unwrap()).await
    }

    /// Sends `body` as raw bytes with the given content type (or none).
    pub async fn post_raw(&self, path: &str, content_type: Option<&str>, body: String) -> Reply {
        let mut req = self.http.post(format!("{}{}", self.url, path)).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        reply(req.send().await.unwrap()).await
    }

    /// The body of `GET path` as text, byte for byte.
    pub async fn get_text(&self, path: &str) -> String {
        self.http.get(format!("{}{}", self.url, path)).send().await.unwrap().text().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.call(Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> Reply {
        self.call(Method::PUT, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.call(Method::DELETE, path, None).await
    }

    /// Registers `schema` under `subject`, returning the reply.
    pub async fn register(&self, subject: &str, schema: &str) -> Reply {
        self.post(&format!("/subjects/{subject}/versions"), serde_json::json!({"schema": schema})).await
    }

    /// Registers `schema` under `subject` and returns its id, failing the test otherwise.
    pub async fn register_ok(&self, subject: &str, schema: &str) -> u64 {
        let reply = self.register(subject, schema).await;
        assert_eq!(reply.status, 200, "registering under {subject}: {:?}", reply.body);
        reply.body["id"].as_u64().unwrap()
    }

    /// Sets the compatibility level of `subject`.
    pub async fn set_level(&self, subject: &str, level: &str) {
        let reply =
            self.put(&format!("/config/{subject}"), serde_json::json!({"compatibility": level})).await;
        assert_eq!(reply.status, 200, "{:?}", reply.body);
    }
}

/// Reads a response: status, content type, and the body as JSON (or as a JSON string).
async fn reply(resp: reqwest::Response) -> Reply {
    let status = resp.status().as_u16();
    let content_type =
        resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let text = resp.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Reply { status, body, content_type }
}

/// A record schema named `User` with the given fields (JSON text of each field).
pub fn user(fields: &[&str]) -> String {
    format!(r#"{{"type":"record","name":"User","namespace":"com.example","fields":[{}]}}"#, fields.join(","))
}
