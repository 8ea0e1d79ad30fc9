//! Which Kafka APIs and versions the listener implements (what ApiVersions
//! advertises, exactly), and ApiVersions' answer to a version it does not serve
//! (`unsupported.rs` answers the other APIs).
//!
//! The ranges stop where a version would need something Runnel does not have:
//! topic ids (Fetch v13+, DeleteTopics v6+, Metadata v10+), batched
//! coordinator lookups (FindCoordinator v4+), grouped offset fetches
//! (OffsetFetch v8+), max-timestamp lookups (ListOffsets v7+), batched
//! broker-to-broker transaction requests (AddPartitionsToTxn v4+), the
//! TRANSACTION_ABORTABLE error and per-transaction epoch bumps of KIP-890
//! (EndTxn, AddOffsetsToTxn, TxnOffsetCommit v4+, InitProducerId v5+), and where
//! `kafka-protocol` starts (Kafka 4's baseline: CreateTopics v2, DeleteTopics v1,
//! DescribeConfigs v1). DescribeGroups stops at v5: v6 answers GROUP_ID_NOT_FOUND for an
//! unknown group where v5 describes it as Dead. librdkafka 2.x (TxnOffsetCommit up to v3),
//! the Java client, kafka-python and kafkajs negotiate down to these.

use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, ResponseKind};
use kafka_protocol::protocol::VersionRange;

use crate::kafka_codes::code;

/// (API, lowest version, highest version) served.
pub const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 9),
    (ApiKey::Fetch, 4, 12),
    (ApiKey::ListOffsets, 1, 6),
    (ApiKey::Metadata, 1, 9),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 7),
    (ApiKey::FindCoordinator, 0, 3),
    (ApiKey::JoinGroup, 0, 7),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 4),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 5),
    (ApiKey::DeleteTopics, 1, 5),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 3),
    (ApiKey::EndTxn, 0, 3),
    (ApiKey::TxnOffsetCommit, 0, 3),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::DescribeCluster, 0, 2),
];

/// The versions of `api` this listener serves, if any.
pub fn supported(api: ApiKey) -> Option<VersionRange> {
    SUPPORTED.iter().find(|(k, _, _)| *k == api).map(|&(_, min, max)| VersionRange { min, max })
}

/// The ApiVersions answer: every supported API with its range.
pub fn api_versions_response(error_code: i16) -> ApiVersionsResponse {
    let mut r = ApiVersionsResponse::default();
    r.error_code = error_code;
    r.api_keys = SUPPORTED
        .iter()
        .map(|&(k, min, max)| {
            let mut v = kafka_protocol::messages::api_versions_response::ApiVersion::default();
            v.api_key = k as i16;
            v.min_version = min;
            v.max_version = max;
            v
        })
        .collect();
    r
}

/// The ApiVersions answer to a version this listener does not serve, as Kafka brokers
/// give it: v0 with UNSUPPORTED_VERSION and the supported list, so that the client can
/// retry lower. Every other API's unsupported answer is built by `unsupported.rs`.
pub fn unsupported_api_versions() -> (i16, ResponseKind) {
    (0, ResponseKind::ApiVersions(api_versions_response(code::UNSUPPORTED_VERSION)))
}
