//! [`ReadState`]: a [`Reader`] polled as a stream, behind the `next` and
//! `Stream::poll_next` of [`Consumer<T>`](crate::Consumer) and
//! [`QueueConsumer<T>`](crate::QueueConsumer). An item the reader holds
//! already is handed out synchronously; only when it must wait is its `next`
//! boxed as a future, polled until it answers, and the reader taken back.
//! Most messages are buffered: this saves a future per message (a third of
//! the consumer's CPU).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Something that yields items, now or later.
pub(crate) trait Reader: Send + 'static {
    type Item: Send + 'static;

    /// The next item if it can be had now, without waiting; `None` means
    /// "wait with [`next`](Self::next)", not the end.
    fn ready(&mut self) -> Option<Self::Item>;

    /// The next item, waiting for one; `None` at the end.
    fn next(&mut self) -> impl Future<Output = Option<Self::Item>> + Send;
}

type NextFuture<R, I> = Pin<Box<dyn Future<Output = (Box<R>, Option<I>)> + Send>>;

/// A reader of `I` items, or the future of its next item while it waits.
pub(crate) struct ReadState<R, I> {
    state: State<R, I>,
}

enum State<R, I> {
    Idle(Box<R>),
    Busy(NextFuture<R, I>),
    /// Only while switching between the two.
    Empty,
}

impl<R: Reader<Item = I>, I: Send + 'static> ReadState<R, I> {
    pub(crate) fn new(reader: R) -> Self {
        ReadState { state: State::Idle(Box::new(reader)) }
    }

    /// The reader, when no wait for its next item is in progress.
    pub(crate) fn idle(&mut self) -> Option<&mut R> {
        match &mut self.state {
            State::Idle(reader) => Some(reader),
            _ => None,
        }
    }

    /// The next item, as `Stream::poll_next` wants it.
    #[inline]
    pub(crate) fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<I>> {
        loop {
            match std::mem::replace(&mut self.state, State::Empty) {
                State::Idle(mut reader) => {
                    if let Some(item) = reader.ready() {
                        self.state = State::Idle(reader);
                        return Poll::Ready(Some(item));
                    }
                    self.state = State::Busy(Box::pin(async move {
                        let item = reader.next().await;
                        (reader, item)
                    }));
                }
                State::Busy(mut fut) => match fut.as_mut().poll(cx) {
                    Poll::Ready((reader, item)) => {
                        self.state = State::Idle(reader);
                        return Poll::Ready(item);
                    }
                    Poll::Pending => {
                        self.state = State::Busy(fut);
                        return Poll::Pending;
                    }
                },
                State::Empty => return Poll::Ready(None),
            }
        }
    }
}
