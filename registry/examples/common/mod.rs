//! The load generator the registry benchmarks share: many keep-alive HTTP/1.1 connections
//! sending one prepared request in a loop, reading only the status line and `content-length` of
//! each answer, so that most of the CPU goes to the server.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A record schema of `n` fields (an id and optional strings): version n of the benchmark's
/// subject, fully compatible with every other version.
#[allow(dead_code)]
pub fn version_schema(n: usize) -> String {
    let mut fields = vec![json!({"name": "id", "type": "long"})];
    for i in 1..n {
        fields.push(json!({"name": format!("f{i}"), "type": ["null", "string"], "default": null}));
    }
    json!({"type": "record", "name": "Bench", "namespace": "runnel.bench", "fields": fields}).to_string()
}

/// Sends `request` (a whole HTTP/1.1 request) over `concurrency` keep-alive connections for
/// `seconds`; the rate of 200 answers.
pub async fn load(addr: SocketAddr, request: Vec<u8>, seconds: u64, concurrency: usize) -> f64 {
    let request: Arc<[u8]> = request.into();
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (request, done, stop) = (request.clone(), done.clone(), stop.clone());
        tasks.spawn(async move {
            let mut stream = TcpStream::connect(addr).await.expect("connect");
            stream.set_nodelay(true).expect("nodelay");
            let mut buf = Vec::with_capacity(16 * 1024);
            while !stop.load(Ordering::Relaxed) {
                stream.write_all(&request).await.expect("request");
                let status = read_response(&mut stream, &mut buf).await;
                assert_eq!(status, 200, "{}", String::from_utf8_lossy(&buf));
                done.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let start = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let n = done.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    while tasks.join_next().await.is_some() {}
    n as f64 / elapsed
}

/// Reads one response (headers, then `content-length` bytes) into `buf`; its status code.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> u16 {
    buf.clear();
    let mut chunk = [0u8; 16 * 1024];
    let header_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).await.expect("response");
        assert!(n > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = std::str::from_utf8(&buf[..header_end]).expect("headers");
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let length: usize = head
        .lines()
        .find_map(|l| l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case("content-length")))
        .and_then(|(_, v)| v.trim().parse().ok())
        .expect("content-length");
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await.expect("body");
        assert!(n > 0, "the server closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
    status
}

/// A request written out: method, path, and a JSON body if any.
pub fn request(method: &str, path: &str, body: Option<&str>) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\nhost: bench\r\n");
    if let Some(body) = body {
        out.push_str("content-type: application/vnd.schemaregistry.v1+json\r\n");
        out.push_str(&format!("content-length: {}\r\n\r\n{body}", body.len()));
    } else {
        out.push_str("\r\n");
    }
    out.into_bytes()
}
