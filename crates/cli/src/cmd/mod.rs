//! One module per subcommand.
pub mod avro;
pub mod bench;
pub mod compat;
pub mod schema;
pub mod consume;
pub mod produce;
pub mod topic;
pub mod serve;
pub mod codegen;
