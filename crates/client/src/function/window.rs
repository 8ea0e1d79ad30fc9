//! Windowed functions: the values of one input partition gathered into windows
//! by count or by event time, tumbling or sliding, each handed to the function
//! once when it closes, as Pulsar's window functions do.
//!
//! The values of a window are not stored: the input position committed for a
//! partition is the first record of its oldest open window, so a restarted or new
//! owner reads the open windows' records again and rebuilds them exactly (count
//! windows start every `slide` records from that record; time windows are aligned
//! to the epoch). A time window closes when a record at or past its end arrives in
//! the partition; a record whose windows have all closed is late and dropped
//! (counted as `late` in the function's metrics; one that misses only some of its
//! sliding windows is counted too and joins the others).
//!
//! What a replay cannot rebuild is how far time windows have closed: a record
//! after the committed position may fall in a window closed before it, and must
//! stay late. That mark ([`Processor::mark`]) is written with each turn, in the
//! turn's transaction under effectively-once, to the topic `<name>-windows`, and
//! restored with the partition.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use super::context::Context;
use super::runtime::Processor;
use super::{FunctionError, WindowFunction};

/// How records are gathered into windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowSpec {
    /// `size` records per window, a window starting every `slide` records
    /// (`slide == size`: tumbling).
    Count {
        /// Records per window.
        size: usize,
        /// Records between window starts.
        slide: usize,
    },
    /// Windows of `size` of event time (the records' timestamps), one starting
    /// every `slide` (`slide == size`: tumbling), aligned to the epoch.
    Time {
        /// The window's length.
        size: Duration,
        /// The time between window starts.
        slide: Duration,
    },
}

impl WindowSpec {
    /// Windows of `n` records, back to back.
    pub fn tumbling_count(n: usize) -> Self {
        WindowSpec::Count { size: n.max(1), slide: n.max(1) }
    }

    /// Windows of the last `size` records, one every `slide` records.
    pub fn sliding_count(size: usize, slide: usize) -> Self {
        WindowSpec::Count { size: size.max(1), slide: slide.max(1) }
    }

    /// Windows of `size` of event time, back to back.
    pub fn tumbling_time(size: Duration) -> Self {
        let size = size.max(Duration::from_millis(1));
        WindowSpec::Time { size, slide: size }
    }

    /// Windows of `size` of event time, one starting every `slide` (a record falls
    /// in about `size / slide` of them).
    pub fn sliding_time(size: Duration, slide: Duration) -> Self {
        WindowSpec::Time {
            size: size.max(Duration::from_millis(1)),
            slide: slide.max(Duration::from_millis(1)),
        }
    }

    /// Whether the windows need their closing mark kept across owners (time windows).
    pub(crate) fn keeps_marks(&self) -> bool {
        matches!(self, WindowSpec::Time { .. })
    }
}

/// One closed window's values, in partition order.
#[derive(Debug, Clone, PartialEq)]
pub struct Window<I> {
    /// The input partition.
    pub partition: u32,
    /// Count windows: the index of the first record since the partition was taken;
    /// time windows: the window's start, ms since the epoch.
    pub start: i64,
    /// Count windows: one past the last index; time windows: the end (exclusive).
    pub end: i64,
    /// The offsets of the first and last record.
    pub offsets: (i64, i64),
    /// The values.
    pub values: Vec<I>,
}

#[derive(Debug)]
struct Open<I> {
    start: i64,
    first_offset: i64,
    last_offset: i64,
    values: Vec<I>,
}

/// One partition's windows.
#[derive(Debug)]
struct Partition<I> {
    /// Records seen since the partition was taken (count windows).
    seen: i64,
    /// The offset of the last record added (a retried record is added once).
    last_added: i64,
    /// Open windows by start.
    open: BTreeMap<i64, Open<I>>,
    /// Closed windows waiting to be handed over (kept across a failed attempt).
    closed: VecDeque<Open<I>>,
    /// Time windows: the end of the latest window handed over.
    fired_until: i64,
}

impl<I> Default for Partition<I> {
    fn default() -> Self {
        Partition {
            seen: 0,
            last_added: -1,
            open: BTreeMap::new(),
            closed: VecDeque::new(),
            fired_until: i64::MIN,
        }
    }
}

/// A [`WindowFunction`] as the runtime's [`Processor`].
pub(crate) struct Windowed<I, F> {
    spec: WindowSpec,
    f: F,
    partitions: HashMap<u32, Partition<I>>,
}

impl<I, F> Windowed<I, F> {
    pub(crate) fn new(spec: WindowSpec, f: F) -> Self {
        Windowed { spec, f, partitions: HashMap::new() }
    }
}

impl<I: Clone + Send + 'static, O, F: WindowFunction<I, O>> Processor<I, O> for Windowed<I, F> {
    fn process(&mut self, input: I, ctx: &mut Context<'_>) -> Result<Vec<O>, FunctionError> {
        let (partition, offset, ts) = (ctx.partition(), ctx.offset(), ctx.timestamp_ms());
        let part = self.partitions.entry(partition).or_default();
        if offset > part.last_added {
            part.last_added = offset;
            match self.spec {
                WindowSpec::Count { size, slide } => {
                    let index = part.seen;
                    part.seen += 1;
                    if index % slide as i64 == 0 {
                        part.open.insert(
                            index,
                            Open {
                                start: index,
                                first_offset: offset,
                                last_offset: offset,
                                values: Vec::new(),
                            },
                        );
                    }
                    for w in part.open.values_mut() {
                        w.values.push(input.clone());
                        w.last_offset = offset;
                    }
                    while let Some(entry) = part.open.first_entry() {
                        if entry.get().values.len() < size {
                            break;
                        }
                        part.closed.push_back(entry.remove());
                    }
                }
                WindowSpec::Time { size, slide } => {
                    let (size, slide) = (size.as_millis() as i64, slide.as_millis() as i64);
                    // Every window [s, s + size) with s a multiple of `slide` that holds `ts`.
                    let mut start = ts.div_euclid(slide) * slide;
                    let mut missed = false;
                    while start + size > ts {
                        if start + size <= part.fired_until {
                            missed = true;
                        } else {
                            let w = part.open.entry(start).or_insert(Open {
                                start,
                                first_offset: offset,
                                last_offset: offset,
                                values: Vec::new(),
                            });
                            w.values.push(input.clone());
                            w.last_offset = offset;
                        }
                        start -= slide;
                    }
                    if missed {
                        ctx.count("late", 1);
                    }
                    // Windows that end at or before this record's time are complete.
                    while let Some(entry) = part.open.first_entry() {
                        if entry.get().start + size > ts {
                            break;
                        }
                        part.fired_until = part.fired_until.max(entry.get().start + size);
                        part.closed.push_back(entry.remove());
                    }
                }
            }
        }
        let end_of = |w: &Open<I>| match self.spec {
            WindowSpec::Count { size, .. } => w.start + size as i64,
            WindowSpec::Time { size, .. } => w.start + size.as_millis() as i64,
        };
        let mut outputs = Vec::new();
        // Hand every closed window over; a failure keeps them for the next attempt.
        for w in &part.closed {
            let window = Window {
                partition,
                start: w.start,
                end: end_of(w),
                offsets: (w.first_offset, w.last_offset),
                values: w.values.clone(),
            };
            outputs.extend(self.f.process(window, ctx)?);
        }
        part.closed.clear();
        Ok(outputs)
    }

    fn give_up(&mut self, partition: u32) {
        if let Some(p) = self.partitions.get_mut(&partition) {
            p.closed.clear();
        }
    }

    fn commit_position(&self, partition: u32, next: i64) -> i64 {
        let Some(p) = self.partitions.get(&partition) else { return next };
        p.open.values().chain(p.closed.iter()).map(|w| w.first_offset).min().map_or(next, |o| o.min(next))
    }

    fn reset(&mut self, partition: u32) {
        self.partitions.remove(&partition);
    }

    fn keeps_marks(&self) -> bool {
        self.spec.keeps_marks()
    }

    fn mark(&self, partition: u32) -> Option<i64> {
        let p = self.partitions.get(&partition)?;
        (self.spec.keeps_marks() && p.fired_until != i64::MIN).then_some(p.fired_until)
    }

    fn restore_mark(&mut self, partition: u32, mark: i64) {
        let p = self.partitions.entry(partition).or_default();
        p.fired_until = p.fired_until.max(mark);
    }
}

#[cfg(test)]
mod tests {
    use super::super::context::{Origin, Staged};
    use super::*;

    fn feed<F: WindowFunction<i64, Vec<i64>>>(
        w: &mut Windowed<i64, F>,
        records: &[(i64, i64)],
    ) -> Vec<Vec<i64>> {
        let mut out = Vec::new();
        for &(offset, ts) in records {
            let origin = Origin { offset, timestamp_ms: ts, ..Origin::default() };
            let mut staged = Staged::default();
            let mut ctx = Context {
                function: "f",
                origin: &origin,
                state_spec: None,
                state: None,
                staged: &mut staged,
            };
            out.extend(w.process(offset, &mut ctx).unwrap());
        }
        out
    }

    fn values(w: Window<i64>, _: &mut Context<'_>) -> Result<Option<Vec<i64>>, FunctionError> {
        Ok(Some(w.values))
    }

    #[test]
    fn tumbling_count_windows_commit_their_first_record() {
        let mut w = Windowed::new(WindowSpec::tumbling_count(3), values);
        let out = feed(&mut w, &[(0, 0), (1, 0), (2, 0), (3, 0), (5, 0)]);
        assert_eq!(out, vec![vec![0, 1, 2]]);
        assert_eq!(w.commit_position(0, 6), 3, "the open window starts at offset 3");
    }

    #[test]
    fn sliding_count_windows_overlap_and_replay_alike() {
        let mut w = Windowed::new(WindowSpec::sliding_count(4, 2), values);
        let out = feed(&mut w, &[(0, 0), (1, 0), (2, 0), (3, 0), (4, 0), (5, 0)]);
        assert_eq!(out, vec![vec![0, 1, 2, 3], vec![2, 3, 4, 5]]);
        let p = w.commit_position(0, 6);
        assert_eq!(p, 4);
        // A new owner reads from 4 and closes the same next window as the old one would.
        let mut again = Windowed::new(WindowSpec::sliding_count(4, 2), values);
        let mut old = w;
        let rest = [(6, 0), (7, 0)];
        assert_eq!(feed(&mut again, &[(4, 0), (5, 0), (6, 0), (7, 0)]), feed(&mut old, &rest));
    }

    #[test]
    fn time_windows_close_on_a_later_record_and_drop_late_ones() {
        let mut w = Windowed::new(WindowSpec::tumbling_time(Duration::from_millis(10)), values);
        let out = feed(&mut w, &[(0, 1), (1, 9), (2, 12), (3, 5), (4, 25)]);
        assert_eq!(out, vec![vec![0, 1], vec![2]], "offset 3 (t=5) came after [0, 10) closed");
        assert_eq!(w.commit_position(0, 5), 4);
    }

    #[test]
    fn sliding_time_windows_overlap_and_close_in_order() {
        let spec = WindowSpec::sliding_time(Duration::from_millis(10), Duration::from_millis(5));
        let mut w = Windowed::new(spec, values);
        // t=1 ∈ [-5,5) [0,10); t=7 ∈ [0,10) [5,15); t=12 ∈ [5,15) [10,20); t=21 closes up to [10,20).
        let out = feed(&mut w, &[(0, 1), (1, 7), (2, 12), (3, 21)]);
        assert_eq!(out, vec![vec![0], vec![0, 1], vec![1, 2], vec![2]]);
        assert_eq!(w.mark(0), Some(20));
        assert_eq!(w.commit_position(0, 4), 3, "[15, 25) and [20, 30) are open from offset 3");
    }

    #[test]
    fn a_record_missing_some_sliding_windows_joins_the_rest() {
        let spec = WindowSpec::sliding_time(Duration::from_millis(10), Duration::from_millis(5));
        let mut w = Windowed::new(spec, values);
        // t=10 closes [0,10); t=8 is late for it but joins [5,15); t=30 closes the rest.
        let out = feed(&mut w, &[(0, 2), (1, 10), (2, 8), (3, 30)]);
        assert_eq!(out, vec![vec![0], vec![0], vec![1, 2], vec![1]]);
    }

    #[test]
    fn a_restored_mark_keeps_late_records_late_on_replay() {
        let mut w = Windowed::new(WindowSpec::tumbling_time(Duration::from_millis(10)), values);
        // [0,10) closes at t=12 (offset 1); offset 2 (t=5) is late; [10,20) is open from offset 1.
        assert_eq!(feed(&mut w, &[(0, 1), (1, 12), (2, 5)]), vec![vec![0]]);
        let (position, mark) = (w.commit_position(0, 3), w.mark(0).unwrap());
        assert_eq!((position, mark), (1, 10));
        // A new owner replays from the position with the mark: offset 2 stays late, and the
        // next window holds what the old owner's would.
        let mut again = Windowed::new(WindowSpec::tumbling_time(Duration::from_millis(10)), values);
        again.restore_mark(0, mark);
        assert_eq!(feed(&mut again, &[(1, 12), (2, 5), (3, 25)]), vec![vec![1]]);
        assert_eq!(feed(&mut w, &[(3, 25)]), vec![vec![1]]);
        // Without the mark the replay would hand [0, 10) over a second time.
        let mut forgetful = Windowed::new(WindowSpec::tumbling_time(Duration::from_millis(10)), values);
        assert_eq!(feed(&mut forgetful, &[(1, 12), (2, 5), (3, 25)]), vec![vec![2], vec![1]]);
    }
}
