//! Kafka framing: every request and response is a 4-byte big-endian size and
//! that many bytes. Reading refuses sizes that are negative or over the limit
//! before allocating, so an oversized or garbage prefix costs nothing but the
//! connection. [`KafkaError`] is what ends a connection.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;
use tokio::io::{AsyncRead, AsyncReadExt};

/// Errors that end a Kafka connection.
#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    /// The socket failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The frame or the request in it does not parse.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The frame is larger than the broker accepts.
    #[error("frame of {size} bytes is over the limit of {limit} bytes")]
    Oversized {
        /// The size announced by the frame.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// An API key this broker does not implement, or a version it cannot answer.
    #[error("unsupported request: API key {api_key} version {version}")]
    Unsupported {
        /// The API key.
        api_key: i16,
        /// The version asked for.
        version: i16,
    },
    /// The connection may not go on: a request before SASL authentication, a failed
    /// authentication, an expired session, or an API the caller may not use.
    #[error("refused: {0}")]
    Refused(String),
    /// A response could not be encoded.
    #[error("cannot encode response: {0}")]
    Encode(String),
}

/// Reads one frame's body. `Ok(None)` when the peer closed the connection
/// between frames.
pub async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    max_bytes: usize,
) -> Result<Option<Bytes>, KafkaError> {
    let mut size = [0u8; 4];
    match reader.read_exact(&mut size).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(KafkaError::Io(e)),
    }
    let size = i32::from_be_bytes(size);
    let Ok(len) = usize::try_from(size) else {
        return Err(KafkaError::Malformed(format!("negative frame size {size}")));
    };
    if len > max_bytes {
        return Err(KafkaError::Oversized { size: len, limit: max_bytes });
    }
    let mut body = BytesMut::zeroed(len);
    reader.read_exact(&mut body).await.map_err(KafkaError::Io)?;
    Ok(Some(body.freeze()))
}

/// Encodes a response frame: size, the response header of the version the API
/// asks for, then the body at the request's version.
pub fn encode_response(
    api_key: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> Result<BytesMut, KafkaError> {
    // The frame size, the header (a correlation id, maybe tagged fields), the body.
    let mut out = BytesMut::with_capacity(16 + size_hint(body, version).max(240));
    out.put_i32(0); // patched below
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    header
        .encode(&mut out, api_key.response_header_version(version))
        .map_err(|e| KafkaError::Encode(e.to_string()))?;
    body.encode(&mut out, version).map_err(|e| KafkaError::Encode(e.to_string()))?;
    let size = i32::try_from(out.len() - 4)
        .map_err(|_| KafkaError::Encode(format!("response of {} bytes is too large", out.len())))?;
    out[..4].copy_from_slice(&size.to_be_bytes());
    Ok(out)
}

/// The encoded size of `body` when it is worth computing first: a fetch
/// response carries up to megabytes of stored batches, copied once into a
/// buffer of the right size rather than into one that doubles its way there
/// (a copy per doubling). 0 for the small answers.
fn size_hint(body: &ResponseKind, version: i16) -> usize {
    match body {
        ResponseKind::Fetch(r) => r.compute_size(version).unwrap_or(0),
        _ => 0,
    }
}
