//! Runnel's wire protocol: the gRPC services generated from `proto/runnel/v1/runnel.proto`
//! (tonic/prost), and the record batch format shared by the client and the broker.

/// The generated protocol types and services (`runnel.v1`).
pub mod v1 {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("runnel.v1");
}

/// Largest gRPC message either side accepts (a produce batch or a fetch response).
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024 * 1024;

pub mod batch;
pub mod frames;
pub mod partition;

pub use batch::{BatchBuilder, BatchError, BatchView, ControlType, RecordView};
