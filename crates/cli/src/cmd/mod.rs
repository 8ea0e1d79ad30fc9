//! One module per subcommand, and what their messages share.
pub mod avro;
pub mod bench;
pub mod cluster;
pub mod codegen;
pub mod compat;
pub mod connection;
pub mod consume;
pub mod function;
pub mod gateway;
pub mod namespace;
pub mod produce;
pub mod registry;
pub mod replication;
pub mod schema;
pub mod serve;
pub mod tenant;
pub mod token;
pub mod topic;

/// `n` things in words, singular for one: `1 record`, `3 records`.
pub fn count(n: u64, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_are_singular_for_one_only() {
        assert_eq!(super::count(0, "record"), "0 records");
        assert_eq!(super::count(1, "problem"), "1 problem");
        assert_eq!(super::count(2, "partition"), "2 partitions");
    }
}
