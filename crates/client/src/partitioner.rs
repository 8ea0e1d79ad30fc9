//! Choosing a record's partition: Kafka's murmur2 hash of the key (so a key
//! lands on the same partition as with a Kafka producer), sticky or
//! round-robin placement for records without a key, or the caller's function.

use std::fmt;
use std::sync::Arc;

/// A caller's partitioner: from the key (if any) and the partition count, a partition.
pub type PartitionFn = dyn Fn(Option<&[u8]>, u32) -> u32 + Send + Sync;

/// How a producer picks the partition of each record.
#[derive(Clone, Default)]
pub enum Partitioner {
    /// Keyed records: `toPositive(murmur2(key)) % partitions`, as Kafka's
    /// default partitioner. Unkeyed records: sticky, filling one partition's
    /// batch before moving to the next (fewer, larger batches).
    #[default]
    Default,
    /// Keyed records as `Default`; unkeyed records one partition after another.
    RoundRobin,
    /// The caller's choice from the key (if any) and the partition count;
    /// the result is taken modulo the count.
    Custom(Arc<PartitionFn>),
}

impl fmt::Debug for Partitioner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Partitioner::Default => f.write_str("Default"),
            Partitioner::RoundRobin => f.write_str("RoundRobin"),
            Partitioner::Custom(_) => f.write_str("Custom(..)"),
        }
    }
}

pub use runnel_proto::partition::{murmur2, partition_for_key};

/// The partitioner's state for one producer: where unkeyed records go next.
#[derive(Debug)]
pub(crate) struct PartitionChooser {
    partitioner: Partitioner,
    next_unkeyed: u32,
}

impl PartitionChooser {
    pub(crate) fn new(partitioner: Partitioner, start: u32) -> Self {
        PartitionChooser { partitioner, next_unkeyed: start }
    }

    /// The partition for a record with this key, among `n` partitions (`n > 0`).
    pub(crate) fn choose(&mut self, key: Option<&[u8]>, n: u32) -> u32 {
        match (&self.partitioner, key) {
            (Partitioner::Custom(f), key) => f(key, n) % n,
            (_, Some(key)) => partition_for_key(key, n),
            (Partitioner::Default, None) => self.next_unkeyed % n,
            (Partitioner::RoundRobin, None) => {
                let p = self.next_unkeyed % n;
                self.next_unkeyed = self.next_unkeyed.wrapping_add(1);
                p
            }
        }
    }

    /// A batch of `partition` was sealed: sticky placement moves on.
    pub(crate) fn batch_sealed(&mut self, partition: u32, n: u32) {
        if matches!(self.partitioner, Partitioner::Default) && self.next_unkeyed % n.max(1) == partition {
            self.next_unkeyed = self.next_unkeyed.wrapping_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_records_use_the_positive_hash_modulo_the_count() {
        // toPositive(-790332482) = 1357151166; % 7 = 1357151166 - 7*193878738 = 0.
        assert_eq!(partition_for_key(b"foobar", 7), (1357151166u32 % 7));
        assert_eq!(partition_for_key(b"abc", 10), 479470107 % 10);
    }

    #[test]
    fn sticky_unkeyed_placement_moves_on_after_a_batch() {
        let mut c = PartitionChooser::new(Partitioner::Default, 0);
        assert_eq!(c.choose(None, 3), 0);
        assert_eq!(c.choose(None, 3), 0);
        c.batch_sealed(0, 3);
        assert_eq!(c.choose(None, 3), 1);
        // A batch of another partition does not move the sticky one.
        c.batch_sealed(2, 3);
        assert_eq!(c.choose(None, 3), 1);
    }

    #[test]
    fn round_robin_cycles_unkeyed_records() {
        let mut c = PartitionChooser::new(Partitioner::RoundRobin, 0);
        let got: Vec<u32> = (0..4).map(|_| c.choose(None, 3)).collect();
        assert_eq!(got, vec![0, 1, 2, 0]);
        assert_eq!(c.choose(Some(b"abc"), 10), 7);
    }

    #[test]
    fn custom_partitioner_results_wrap_to_the_count() {
        let mut c = PartitionChooser::new(Partitioner::Custom(Arc::new(|_, _| 5)), 0);
        assert_eq!(c.choose(None, 4), 1);
    }
}
