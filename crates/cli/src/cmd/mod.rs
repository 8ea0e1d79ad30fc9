//! One module per subcommand.
pub mod avro;
pub mod bench;
pub mod codegen;
pub mod compat;
pub mod connection;
pub mod consume;
pub mod namespace;
pub mod produce;
pub mod schema;
pub mod serve;
pub mod tenant;
pub mod token;
pub mod topic;
