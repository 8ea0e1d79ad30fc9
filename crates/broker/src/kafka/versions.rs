//! Which Kafka APIs and versions the listener implements (what ApiVersions
//! advertises, exactly), and how an unsupported version is answered.
//!
//! The ranges stop where a version would need something Runnel does not have:
//! topic ids (Fetch v13+, DeleteTopics v6+, Metadata v10+), batched
//! coordinator lookups (FindCoordinator v4+), grouped offset fetches
//! (OffsetFetch v8+), max-timestamp lookups (ListOffsets v7+), batched
//! broker-to-broker transaction requests (AddPartitionsToTxn v4+), the
//! TRANSACTION_ABORTABLE error and per-transaction epoch bumps of KIP-890
//! (EndTxn, AddOffsetsToTxn, TxnOffsetCommit v4+, InitProducerId v5+).
//! librdkafka 2.x (TxnOffsetCommit up to v3) and the Java client negotiate down
//! to these.

use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, FindCoordinatorResponse, HeartbeatResponse, InitProducerIdResponse,
    JoinGroupResponse, LeaveGroupResponse, ResponseKind, SyncGroupResponse,
};
use kafka_protocol::protocol::VersionRange;

use super::codes::code;

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
    (ApiKey::DescribeConfigs, 0, 4),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 0, 5),
    (ApiKey::DeleteTopics, 0, 5),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::AddPartitionsToTxn, 0, 3),
    (ApiKey::AddOffsetsToTxn, 0, 3),
    (ApiKey::EndTxn, 0, 3),
    (ApiKey::TxnOffsetCommit, 0, 3),
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

/// The answer to a version this listener does not serve, as Kafka brokers give
/// it: ApiVersions answers in v0 with UNSUPPORTED_VERSION and the supported
/// list (so the client can retry lower); APIs whose response has a top-level
/// error code get UNSUPPORTED_VERSION in it. `None` means the connection is
/// closed instead (there is no field to carry the error).
pub fn unsupported_response(api: ApiKey, version: i16) -> Option<(i16, ResponseKind)> {
    if api == ApiKey::ApiVersions {
        return Some((0, ResponseKind::ApiVersions(api_versions_response(code::UNSUPPORTED_VERSION))));
    }
    let valid = api.valid_versions();
    if version < valid.min || version > valid.max {
        return None;
    }
    let e = code::UNSUPPORTED_VERSION;
    let body = match api {
        ApiKey::FindCoordinator if version >= 1 => {
            let mut r = FindCoordinatorResponse::default();
            r.error_code = e;
            ResponseKind::FindCoordinator(r)
        }
        ApiKey::JoinGroup => {
            let mut r = JoinGroupResponse::default();
            r.error_code = e;
            ResponseKind::JoinGroup(r)
        }
        ApiKey::SyncGroup => {
            let mut r = SyncGroupResponse::default();
            r.error_code = e;
            ResponseKind::SyncGroup(r)
        }
        ApiKey::Heartbeat => {
            let mut r = HeartbeatResponse::default();
            r.error_code = e;
            ResponseKind::Heartbeat(r)
        }
        ApiKey::LeaveGroup => {
            let mut r = LeaveGroupResponse::default();
            r.error_code = e;
            ResponseKind::LeaveGroup(r)
        }
        ApiKey::InitProducerId => {
            let mut r = InitProducerIdResponse::default();
            r.error_code = e;
            ResponseKind::InitProducerId(r)
        }
        _ => return None,
    };
    Some((version, body))
}
