//! Produce requests on their way through: every partition's batches are checked as
//! Runnel's broker checks them (`runnel-enforce`: the value's schema id is a version of
//! the topic's subject `<topic>-value`, and at level `full` the body is one datum of
//! that schema), after the same framing checks (batch lengths, magic, CRC-32C, no
//! compression). A refused partition is answered by the gateway with the error a
//! broker gives (INVALID_RECORD with the record's index and the reason; CORRUPT_MESSAGE
//! for a broken batch); the others are forwarded, and the upstream's answer is merged
//! with the gateway's refusals into one response. Nothing of a refused partition
//! reaches the cluster, so no partition is half-written.

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use runnel_enforce::{check_part, framed_id, Checked, Part};
use runnel_proto::{BatchError, BatchView};

use crate::schemas::RegistrySchemas;

/// Size of a RecordBatch's base offset and length fields, before `length` bytes.
const BATCH_PREFIX: usize = 12;

/// How much of each record is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    /// The framing and the id's subject.
    Id,
    /// `Id`, and the body against the schema.
    Full,
}

/// One partition the gateway answers itself.
pub struct Refused {
    /// Its topic.
    pub topic: TopicName,
    /// The answer.
    pub response: PartitionProduceResponse,
}

/// The gateway's answer for one partition it refuses before checking the records (a topic
/// the caller may not produce to).
pub fn refused(topic: TopicName, index: i32, error: ResponseError, message: String) -> Refused {
    Refused { topic, response: Refusal::new(error, message).response(index) }
}

/// Checks every partition of `req`, removes the refused ones from it and returns them.
pub async fn check_request(
    schemas: &RegistrySchemas,
    level: Level,
    req: &mut ProduceRequest,
) -> Vec<Refused> {
    let mut refused = Vec::new();
    for topic in &mut req.topic_data {
        let subject = format!("{}-value", topic.name.as_str());
        let mut kept = Vec::with_capacity(topic.partition_data.len());
        for p in std::mem::take(&mut topic.partition_data) {
            match check_partition(schemas, level, topic.name.as_str(), &subject, p.records.as_ref()).await {
                Ok(()) => kept.push(p),
                Err(e) => {
                    tracing::info!(topic = %topic.name.as_str(), partition = p.index, reason = %e.message, "produce refused");
                    refused.push(Refused { topic: topic.name.clone(), response: e.response(p.index) });
                }
            }
        }
        topic.partition_data = kept;
    }
    req.topic_data.retain(|t| !t.partition_data.is_empty());
    refused
}

/// Why a partition was refused.
struct Refusal {
    code: i16,
    message: String,
    record: Option<i32>,
}

impl Refusal {
    fn new(error: ResponseError, message: String) -> Self {
        Refusal { code: error.code(), message, record: None }
    }

    fn response(self, index: i32) -> PartitionProduceResponse {
        let mut r = PartitionProduceResponse::default();
        r.index = index;
        r.error_code = self.code;
        r.base_offset = -1;
        r.log_append_time_ms = -1;
        r.log_start_offset = -1;
        r.error_message = Some(StrBytes::from_string(self.message.clone()));
        if let Some(record) = self.record {
            let mut e = BatchIndexAndErrorMessage::default();
            e.batch_index = record;
            e.batch_index_error_message = Some(StrBytes::from_string(self.message));
            r.record_errors.push(e);
        }
        r
    }
}

fn batch_refusal(e: &BatchError) -> Refusal {
    let error = match e {
        BatchError::UnsupportedCompression(_) => ResponseError::UnsupportedCompressionType,
        _ => ResponseError::CorruptMessage,
    };
    Refusal::new(error, e.to_string())
}

async fn check_partition(
    schemas: &RegistrySchemas,
    level: Level,
    topic: &str,
    subject: &str,
    records: Option<&Bytes>,
) -> Result<(), Refusal> {
    let Some(records) = records else {
        return Err(Refusal::new(ResponseError::InvalidRequest, "the partition's records are null".into()));
    };
    let batches = split_batches(records)?;
    let mut views = Vec::with_capacity(batches.len());
    let mut ids = Vec::new();
    for batch in &batches {
        let view = BatchView::parse(batch).map_err(|e| batch_refusal(&e))?;
        for record in view.records() {
            let record = record.map_err(|e| batch_refusal(&e))?;
            if let Some(id) = record.value.and_then(framed_id) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        }
        views.push(view);
    }
    if let Err(e) = schemas.prefetch(subject, ids).await {
        // Retriable: the client tries again, as it would after a broker's timeout.
        return Err(Refusal::new(ResponseError::RequestTimedOut, format!("cannot check the records: {e}")));
    }
    for view in &views {
        for (index, record) in view.records().enumerate() {
            let record = record.map_err(|e| batch_refusal(&e))?;
            match check_part(schemas, topic, subject, record.value, Part::Value, level == Level::Full) {
                Ok(()) => {}
                Err(Checked::Refused { path, message }) => {
                    return Err(Refusal {
                        code: ResponseError::InvalidRecord.code(),
                        message: format!("record {index} refused at {path}: {message}"),
                        record: Some(i32::try_from(index).unwrap_or(i32::MAX)),
                    })
                }
                Err(Checked::Source(e)) => {
                    return Err(Refusal::new(
                        ResponseError::RequestTimedOut,
                        format!("cannot check the records: {e}"),
                    ))
                }
            }
        }
    }
    Ok(())
}

/// Splits a partition's records into its batches by their length fields.
fn split_batches(records: &Bytes) -> Result<Vec<Bytes>, Refusal> {
    let mut rest = records.clone();
    let mut out = Vec::with_capacity(1);
    let corrupt = |message: String| Refusal::new(ResponseError::CorruptMessage, message);
    while !rest.is_empty() {
        let Some(len) = rest.get(8..BATCH_PREFIX) else {
            return Err(corrupt(format!("truncated batch: {} bytes left", rest.len())));
        };
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        let Some(size) = usize::try_from(len).ok().and_then(|l| l.checked_add(BATCH_PREFIX)) else {
            return Err(corrupt(format!("batch length {len}")));
        };
        if size > rest.len() {
            return Err(corrupt(format!("batch of {size} bytes, {} bytes left", rest.len())));
        }
        out.push(rest.split_to(size));
    }
    if out.is_empty() {
        return Err(corrupt("the partition's records are empty".into()));
    }
    Ok(out)
}

/// Adds the gateway's refusals to the upstream's answer (or to an empty one).
pub fn merge(response: &mut ProduceResponse, refused: Vec<Refused>) {
    for r in refused {
        match response.responses.iter_mut().find(|t| t.name == r.topic) {
            Some(t) => t.partition_responses.push(r.response),
            None => {
                let mut t = TopicProduceResponse::default();
                t.name = r.topic;
                t.partition_responses.push(r.response);
                response.responses.push(t);
            }
        }
    }
}
