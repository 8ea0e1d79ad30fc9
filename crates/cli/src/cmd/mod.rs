//! One module per subcommand.
pub mod avro;
pub mod compat;
