//! Writing a transaction's markers: one control batch (commit or abort, Kafka's
//! `EndTransactionMarker`) per partition of the transaction, appended straight to the
//! partition logs (markers are not records: no schema enforcement, no quota) and waited
//! for until durable, all partitions at once.

use std::time::{SystemTime, UNIX_EPOCH};

use runnel_proto::batch::{control_batch, ControlType};

use crate::error::BrokerError;
use crate::meta::transactions::TxnRecord;
use crate::topics::Topics;

/// The coordinator epoch written in markers: Runnel is one broker whose coordinator never
/// moves, so it is always 0.
const COORDINATOR_EPOCH: i32 = 0;

/// Appends the marker of `record`'s transaction to each of its partitions and waits until
/// every one is durable. A deleted topic is skipped (nothing of it is left to mark).
/// `only_open`: skip partitions whose log shows no open transaction of the producer (a
/// marker written before a crash already closed it), which makes completing again write
/// nothing twice.
pub(super) async fn write(
    topics: &Topics,
    record: &TxnRecord,
    commit: bool,
    only_open: bool,
) -> Result<(), BrokerError> {
    let kind = if commit { ControlType::Commit } else { ControlType::Abort };
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
    let mut appends = Vec::with_capacity(record.partitions.len());
    for (topic, partition) in &record.partitions {
        let log = match topics.get(topic).and_then(|t| t.partition(*partition).cloned()) {
            Ok(log) => log,
            Err(BrokerError::UnknownTopic(_) | BrokerError::UnknownPartition { .. }) => continue,
            Err(e) => return Err(e),
        };
        if only_open && !log.has_open_transaction(record.producer_id) {
            continue;
        }
        let marker = control_batch(record.producer_id, record.epoch, kind, COORDINATOR_EPOCH, now);
        appends.push(async move { log.append(marker).await });
    }
    for result in futures::future::join_all(appends).await {
        result?;
    }
    Ok(())
}
