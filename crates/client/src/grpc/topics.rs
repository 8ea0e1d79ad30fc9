//! The topic calls the gRPC transport itself needs: a topic's description
//! (its partitions and value subject) and the offsets a position designates.
//! [`Client`](crate::Client) offers both publicly, with the other admin calls.

use runnel_proto::v1::{self, TopicInfo};

use super::connection::Connection;
use crate::error::ClientError;
use crate::transport::{Position, TopicBinding};

/// The subject a topic's values are bound to.
pub fn value_subject(info: &TopicInfo) -> String {
    match info.config.as_ref().map(|c| c.value_subject.as_str()) {
        Some(s) if !s.is_empty() => s.to_owned(),
        _ => format!("{}-value", info.name),
    }
}

/// A topic as the broker describes it, bound to its value subject.
pub(crate) fn binding(info: &TopicInfo) -> TopicBinding {
    TopicBinding {
        name: info.name.clone(),
        subject: value_subject(info),
        auto_register: info.config.as_ref().is_some_and(|c| c.auto_register),
        partitions: info.partitions.iter().map(|p| p.partition).collect(),
    }
}

impl Connection {
    /// A topic's settings and partitions.
    pub(crate) async fn describe_topic(&self, topic: &str) -> Result<TopicInfo, ClientError> {
        let req = v1::TopicRef { topic: topic.to_owned() };
        self.retry(|| {
            let mut svc = self.admin();
            let req = req.clone();
            async move { svc.describe_topic(req).await }
        })
        .await
        .map_err(|s| ClientError::from_topic_status(topic, s))
    }

    /// The offset `position` designates in each of `partitions` (all when empty),
    /// as `(partition, offset)` pairs.
    pub(crate) async fn list_offsets(
        &self,
        topic: &str,
        partitions: &[u32],
        position: Position,
    ) -> Result<Vec<(u32, i64)>, ClientError> {
        let (spec, timestamp_ms) = match position {
            Position::Offset(n) => {
                let all = if partitions.is_empty() {
                    let info = self.describe_topic(topic).await?;
                    info.partitions.iter().map(|p| p.partition).collect()
                } else {
                    partitions.to_vec()
                };
                return Ok(all.into_iter().map(|p| (p, n)).collect());
            }
            Position::Earliest => (v1::OffsetSpec::Earliest, 0),
            Position::Latest => (v1::OffsetSpec::Latest, 0),
            Position::Timestamp(ms) => (v1::OffsetSpec::Timestamp, ms),
        };
        let req = v1::ListOffsetsRequest {
            topic: topic.to_owned(),
            partitions: partitions.to_vec(),
            spec: spec as i32,
            timestamp_ms,
            // A consumer starting at the end starts at the last stable offset.
            isolation: v1::Isolation::ReadCommitted as i32,
        };
        let resp = self
            .retry(|| {
                let mut svc = self.broker();
                let req = req.clone();
                async move { svc.list_offsets(req).await }
            })
            .await
            .map_err(|s| ClientError::from_topic_status(topic, s))?;
        Ok(resp.offsets.into_iter().map(|o| (o.partition, o.offset)).collect())
    }
}
