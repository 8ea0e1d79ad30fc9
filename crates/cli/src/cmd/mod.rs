//! One module per subcommand.
pub mod compat;
