//! The `Transactions` gRPC service: Kafka's transactions for Runnel's own clients, a thin
//! translation onto the broker's transaction coordinator (`crate::transactions`), the same
//! one the Kafka listener uses. Adding partitions takes the produce permission on their
//! topics, committing offsets the consume permission on the topic; a transactional id
//! belongs to a tenant as group ids do (`T/id`, or a bare id for `public`), and every call
//! on it needs a produce or admin grant reaching into that tenant, so no tenant can fence
//! or end another's transactions.

use std::sync::Arc;

use runnel_proto::v1::{self, transactions_server::TransactionsServer};
use tonic::{Request, Response, Status};

use super::authorize_topic;
use crate::auth::Permission;
use crate::broker::Broker;

/// A producer's transaction timeout when the request gives none.
const DEFAULT_TIMEOUT_MS: u32 = 60_000;

/// The `Transactions` service over the broker's transaction coordinator.
#[derive(Debug, Clone)]
pub struct TransactionsService(Arc<Broker>);

/// The tonic server for [`TransactionsService`].
pub fn server(broker: Arc<Broker>) -> TransactionsServer<TransactionsService> {
    TransactionsServer::new(TransactionsService(broker))
}

/// Refuses a caller who may not use `transactional_id` (see the module comment).
fn authorize_id<T>(req: &Request<T>, transactional_id: &str) -> Result<(), Status> {
    let caller =
        crate::auth::caller_of(req).ok_or_else(|| Status::unauthenticated("no authenticated caller"))?;
    let tenant = runnel_auth::names::kafka::group_tenant(transactional_id);
    if caller.may_use_transactions_of(tenant) {
        Ok(())
    } else {
        tracing::info!(
            principal = caller.name().unwrap_or("-"),
            transactional_id,
            "gRPC transaction request refused"
        );
        Err(Status::permission_denied(format!(
            "permission denied: transactional id '{transactional_id}' needs a produce or admin grant in tenant '{tenant}'"
        )))
    }
}

/// The (id, producer id, epoch) of a request's producer.
fn producer(p: Option<&v1::TxnProducer>) -> Result<(&str, i64, i16), Status> {
    let p = p.ok_or_else(|| Status::invalid_argument("the request names no producer"))?;
    let epoch = i16::try_from(p.epoch).map_err(|_| Status::invalid_argument("epoch out of range"))?;
    Ok((p.transactional_id.as_str(), p.producer_id, epoch))
}

fn refused(api: &str, e: crate::transactions::TxnError) -> Status {
    tracing::info!(api, error = %e, "gRPC transaction request refused");
    e.into()
}

#[tonic::async_trait]
impl v1::transactions_server::Transactions for TransactionsService {
    async fn init_transactions(
        &self,
        req: Request<v1::InitTransactionsRequest>,
    ) -> Result<Response<v1::InitTransactionsResponse>, Status> {
        authorize_id(&req, &req.get_ref().transactional_id)?;
        let r = req.into_inner();
        let timeout = if r.timeout_ms == 0 { DEFAULT_TIMEOUT_MS } else { r.timeout_ms };
        let timeout = i32::try_from(timeout).unwrap_or(i32::MAX);
        let (producer_id, epoch) = self
            .0
            .transactions
            .init_producer(&r.transactional_id, timeout, None)
            .await
            .map_err(|e| refused("InitTransactions", e))?;
        Ok(Response::new(v1::InitTransactionsResponse { producer_id, epoch: epoch as u32 }))
    }

    async fn add_partitions(
        &self,
        req: Request<v1::AddTxnPartitionsRequest>,
    ) -> Result<Response<v1::TxnResponse>, Status> {
        for p in &req.get_ref().partitions {
            authorize_topic(&req, &p.topic, Permission::Produce)?;
        }
        let r = req.get_ref();
        let (id, pid, epoch) = producer(r.producer.as_ref())?;
        authorize_id(&req, id)?;
        let parts: Vec<(String, u32)> = r.partitions.iter().map(|p| (p.topic.clone(), p.partition)).collect();
        self.0
            .transactions
            .add_partitions(id, pid, epoch, &parts)
            .await
            .map_err(|e| refused("AddPartitions", e))?;
        Ok(Response::new(v1::TxnResponse {}))
    }

    async fn commit_offsets(
        &self,
        req: Request<v1::TxnCommitOffsetsRequest>,
    ) -> Result<Response<v1::TxnResponse>, Status> {
        authorize_topic(&req, &req.get_ref().topic, Permission::Consume)?;
        let r = req.get_ref();
        let (id, pid, epoch) = producer(r.producer.as_ref())?;
        authorize_id(&req, id)?;
        let topic = self.0.topics.get(&r.topic)?;
        let mut offsets = Vec::with_capacity(r.offsets.len());
        for o in &r.offsets {
            topic.partition(o.partition)?;
            if o.offset < 0 {
                return Err(Status::invalid_argument(format!("offset {} is negative", o.offset)));
            }
            offsets.push((r.topic.clone(), o.partition, o.offset));
        }
        let t = &self.0.transactions;
        // The group joins the transaction with its first offsets (Kafka's AddOffsetsToTxn).
        t.add_offsets(id, pid, epoch, &r.group).await.map_err(|e| refused("CommitOffsets", e))?;
        t.commit_offsets(id, pid, epoch, &r.group, &offsets)
            .await
            .map_err(|e| refused("CommitOffsets", e))?;
        Ok(Response::new(v1::TxnResponse {}))
    }

    async fn end_transaction(
        &self,
        req: Request<v1::EndTransactionRequest>,
    ) -> Result<Response<v1::TxnResponse>, Status> {
        let r = req.get_ref();
        let (id, pid, epoch) = producer(r.producer.as_ref())?;
        authorize_id(&req, id)?;
        self.0.transactions.end(id, pid, epoch, r.commit).await.map_err(|e| refused("EndTransaction", e))?;
        Ok(Response::new(v1::TxnResponse {}))
    }
}
