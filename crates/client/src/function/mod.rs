//! Typed stream functions that run in the caller's process: a [`Function<I, O>`]
//! (a closure or a type) reads `I` values from one topic and writes zero, one or
//! many `O` values to another, with a processing guarantee, keyed state and
//! instances the server lists (`runnel function list`).
//!
//! ```no_run
//! # use runnel_client::{Client, ClientError};
//! use runnel_client::function::{Context, FunctionError, Guarantee};
//!
//! # async fn run(client: Client) -> Result<(), ClientError> {
//! // Clicks arrive as user names; each becomes the user's running count.
//! client
//!     .function::<String, i64>("click-counts")
//!     .input("clicks")
//!     .output("click-counts")
//!     .state::<String, i64>() // clicks per user, kept with the outputs
//!     .guarantee(Guarantee::EffectivelyOnce) // the default
//!     .run(|user: String, ctx: &mut Context<'_>| {
//!         let mut counts = ctx.state::<String, i64>()?;
//!         let clicks = counts.get(&user)?.unwrap_or(0) + 1;
//!         counts.put(&user, &clicks);
//!         Ok::<_, FunctionError>(Some(clicks))
//!     })
//!     .await
//! # }
//! ```
//!
//! How it runs (docs/functions.md has the design):
//! - **Sharing.** Instances (processes) of a function join the consumer group
//!   `__function.<name>` of the input: each owns some partitions, so the records
//!   of a key are processed in order by one instance, and a dead instance's
//!   partitions (with their keys and state) move to the others.
//! - **Effectively once** (the default): for each input partition, the outputs,
//!   the state changes and the next input offset of a turn commit in one
//!   transaction of the transactional id `__function.<name>.<partition>`. An
//!   instance that takes a partition over first fences that id (aborting what the
//!   previous owner left open), then reads the committed position and restores the
//!   partition's state: a crash of the function or of the server never loses or
//!   repeats an output as committed readers see it.
//! - **At least once**: outputs are sent, and once they are stored the input
//!   offsets are committed; a crash repeats a turn's outputs. **At most once**: the
//!   offsets are committed first; a crash loses a turn's outputs.
//! - **State** ([`Context::state`]): a typed key-value map per function, kept in the
//!   topic `<name>-state` (one partition per input partition, values `["null", V]`
//!   so that a removal is a record too) and restored when an instance takes a
//!   partition. Its schema evolves under the registry's rules like any topic's.
//! - **Failures.** A record whose processing returns an error or panics is tried
//!   again, up to [`FunctionBuilder::max_attempts`]; then it goes to the topic
//!   `<name>-dlq` (the input's bytes, key and headers, plus `runnel-function-error`,
//!   `-name`, `-source` and `-attempts` headers) and the function goes on.
//! - **Checks at start.** Every live version of the input's subject must resolve
//!   into `I`, and `O` (and the state's value) must be registered under, or
//!   compatible with, their topics' subjects; otherwise the function does not start
//!   and [`ClientError::Function`] gives every reason.

mod context;
mod runtime;
mod state;
mod window;

use std::future::Future;
use std::marker::PhantomData;
use std::time::Duration;

use runnel_avro::Avro;

pub use context::Context;
pub use state::State;
pub use window::{Window, WindowSpec};

use crate::client::Client;
use crate::error::ClientError;

/// What a function's closure fails with: any error (`?` converts).
pub type FunctionError = Box<dyn std::error::Error + Send + Sync>;

/// How often an input record's effects may be applied when things crash.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Guarantee {
    /// Offsets are committed before processing: a crash can lose outputs.
    AtMostOnce,
    /// Offsets are committed after the outputs are stored: a crash can repeat them.
    AtLeastOnce,
    /// Outputs, state and offsets commit in one transaction: nothing lost or repeated.
    #[default]
    EffectivelyOnce,
}

impl Guarantee {
    /// `at-most-once`, `at-least-once` or `effectively-once`.
    pub fn as_str(self) -> &'static str {
        match self {
            Guarantee::AtMostOnce => "at-most-once",
            Guarantee::AtLeastOnce => "at-least-once",
            Guarantee::EffectivelyOnce => "effectively-once",
        }
    }
}

/// A function from `I` values to zero, one or many `O` values. Closures
/// `FnMut(I, &mut Context) -> Result<impl IntoIterator<Item = O>, FunctionError>`
/// are functions (return `Option<O>` for zero or one, `Vec<O>` for many).
pub trait Function<I, O>: Send + 'static {
    /// What one input becomes.
    type Outputs: IntoIterator<Item = O>;

    /// Processes one input record; `ctx` tells where it came from and gives
    /// state, metrics and publishing to other topics.
    fn process(&mut self, input: I, ctx: &mut Context<'_>) -> Result<Self::Outputs, FunctionError>;
}

impl<I, O, F, R> Function<I, O> for F
where
    F: FnMut(I, &mut Context<'_>) -> Result<R, FunctionError> + Send + 'static,
    R: IntoIterator<Item = O>,
{
    type Outputs = R;

    fn process(&mut self, input: I, ctx: &mut Context<'_>) -> Result<R, FunctionError> {
        self(input, ctx)
    }
}

/// A function over windows of `I` values: called with each window's values when
/// the window closes ([`FunctionBuilder::run_windowed_until`]).
pub trait WindowFunction<I, O>: Send + 'static {
    /// What one window becomes.
    type Outputs: IntoIterator<Item = O>;

    /// Processes one closed window; `ctx` describes its last record.
    fn process(&mut self, window: Window<I>, ctx: &mut Context<'_>) -> Result<Self::Outputs, FunctionError>;
}

impl<I, O, F, R> WindowFunction<I, O> for F
where
    F: FnMut(Window<I>, &mut Context<'_>) -> Result<R, FunctionError> + Send + 'static,
    R: IntoIterator<Item = O>,
{
    type Outputs = R;

    fn process(&mut self, window: Window<I>, ctx: &mut Context<'_>) -> Result<R, FunctionError> {
        self(window, ctx)
    }
}

/// Builds and runs a function; from [`Client::function`].
pub struct FunctionBuilder<I, O> {
    client: Client,
    settings: runtime::Settings,
    _types: PhantomData<fn(I) -> O>,
}

impl<I, O> std::fmt::Debug for FunctionBuilder<I, O> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionBuilder").field("settings", &self.settings).finish_non_exhaustive()
    }
}

impl Client {
    /// A function named `name` (1 to 200 of `a-z A-Z 0-9 . _ -`) from `I` to `O`
    /// values. Set its input and output, then [`run`](FunctionBuilder::run) it; run the
    /// same function in several processes to share its input.
    pub fn function<I: Avro + Send + 'static, O: Avro + Send + 'static>(
        &self,
        name: impl Into<String>,
    ) -> FunctionBuilder<I, O> {
        FunctionBuilder {
            client: self.clone(),
            settings: runtime::Settings::new(name.into()),
            _types: PhantomData,
        }
    }
}

impl<I: Avro + Send + 'static, O: Avro + Send + 'static> FunctionBuilder<I, O> {
    /// The topic read (required).
    pub fn input(mut self, topic: impl Into<String>) -> Self {
        self.settings.input = topic.into();
        self
    }

    /// The topic the function's results go to (required unless the function only
    /// publishes through [`Context::publish`]). Outputs keep the input record's key.
    pub fn output(mut self, topic: impl Into<String>) -> Self {
        self.settings.output = Some(topic.into());
        self
    }

    /// The processing guarantee (default: effectively once).
    pub fn guarantee(mut self, guarantee: Guarantee) -> Self {
        self.settings.guarantee = guarantee;
        self
    }

    /// Declares the function's keyed state: [`Context::state::<K, V>`](Context::state)
    /// then gives it. Kept in the topic `<name>-state`.
    pub fn state<K: Avro + 'static, V: Avro + Send + 'static>(mut self) -> Self {
        self.settings.state = Some(state::StateSpec::of::<K, V>());
        self
    }

    /// How many times a failing record is processed before it is dead-lettered (default 3).
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.settings.max_attempts = n.max(1);
        self
    }

    /// Most input records per turn (one transaction per partition per turn; default 10 000).
    /// A turn takes what the consumer has buffered, so at low rates turns are small;
    /// under load larger turns spread each commit's fixed cost (a few fsyncs) further.
    pub fn batch(mut self, n: usize) -> Self {
        self.settings.batch = n.max(1);
        self
    }

    /// How long the group and the server wait for a silent instance (default 10 s).
    pub fn session_timeout(mut self, d: Duration) -> Self {
        self.settings.session_timeout = d;
        self
    }

    /// Runs `f` until the function is deleted (`runnel function delete`) or fails to
    /// start. Dropping the future stops it abruptly (as a crash would: what was not
    /// committed is done again by the next owner).
    pub async fn run<F, R>(self, f: F) -> Result<(), ClientError>
    where
        F: FnMut(I, &mut Context<'_>) -> Result<R, FunctionError> + Send + 'static,
        R: IntoIterator<Item = O>,
    {
        self.run_until(f, std::future::pending()).await
    }

    /// Runs `f` until `stop` completes (then leaves the group cleanly), the function
    /// is deleted, or it fails to start.
    pub async fn run_until<F>(self, f: F, stop: impl Future<Output = ()> + Send) -> Result<(), ClientError>
    where
        F: Function<I, O>,
    {
        runtime::run::<I, O, _>(self.client, self.settings, runtime::PerRecord(f), stop).await
    }

    /// Runs a [`WindowFunction`] over windows of the input (per partition) until
    /// `stop` completes: each window's values, once it closes, become zero, one or
    /// many outputs. The input position committed is the first record of the oldest
    /// window still open, so a restart rebuilds open windows from the log.
    pub async fn run_windowed_until<F>(
        self,
        spec: WindowSpec,
        f: F,
        stop: impl Future<Output = ()> + Send,
    ) -> Result<(), ClientError>
    where
        F: WindowFunction<I, O>,
        I: Clone,
    {
        runtime::run::<I, O, _>(self.client, self.settings, window::Windowed::new(spec, f), stop).await
    }
}
