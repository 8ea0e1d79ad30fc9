//! The inboxes as the app sees them: one task per `inbox-<user>` topic reads the
//! topic from its first record and keeps what it read in memory, numbered by
//! offset, and tells the live page streams of each new message.
//!
//! The topic is the inbox: nothing here is stored by the app, so a restarted app
//! reads every inbox again and has lost nothing. The consumers read committed
//! records only (the `route` function writes inboxes in transactions), so a
//! message routed twice by an aborted and retried turn is seen once. A page
//! asks for the list (`GET /inbox`), then for what comes after the last offset
//! it has (`GET /events?after=` or `Last-Event-ID`), so each message is on the
//! page exactly once, across reloads and restarts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use runnel::{Client, NewTopic, Position};
use serde::Serialize;
use tokio::sync::{broadcast, watch};

use crate::model::{ChatMessage, Wire};

/// The topic every inbox topic is bound like: its schema subject.
pub const CHAT_SUBJECT: &str = "chat-value";
/// How inbox topics are named; `{}` is the user (the `route` function's template).
pub const INBOX_TEMPLATE: &str = "inbox-{}";
/// How long a request waits for an inbox to be read to its end after the app started.
const LOAD_WAIT: Duration = Duration::from_secs(5);
/// When nothing more arrives for this long, an inbox counts as read to its end
/// even if its end offset was not reached (it ends with aborted records).
const QUIET: Duration = Duration::from_millis(500);

/// Locks `m`; a panic elsewhere while it was held leaves the data usable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub fn inbox_topic(user: &str) -> String {
    INBOX_TEMPLATE.replace("{}", user)
}

/// A message with its place in its inbox.
#[derive(Serialize, Debug, Clone)]
pub struct Delivered {
    /// The offset in `inbox-<user>` (one partition: the page's cursor).
    pub offset: i64,
    #[serde(flatten)]
    pub message: ChatMessage,
}

/// One user's inbox.
pub struct Inbox {
    messages: Mutex<Vec<Delivered>>,
    live: broadcast::Sender<Delivered>,
    loaded: watch::Sender<bool>,
}

impl Inbox {
    /// Every message, oldest first.
    pub fn all(&self) -> Vec<Delivered> {
        lock(&self.messages).clone()
    }

    /// The messages after `offset` and a receiver of the ones still to come,
    /// taken together so that none falls between them.
    pub fn follow(&self, after: i64) -> (Vec<Delivered>, broadcast::Receiver<Delivered>) {
        let messages = lock(&self.messages);
        let rx = self.live.subscribe();
        (messages.iter().filter(|d| d.offset > after).cloned().collect(), rx)
    }

    /// The offset of the newest message (-1 when empty).
    pub fn last_offset(&self) -> i64 {
        lock(&self.messages).last().map_or(-1, |d| d.offset)
    }

    /// Waits (a bounded while) until the inbox has been read to its end.
    pub async fn loaded(&self) {
        let mut rx = self.loaded.subscribe();
        let _ = tokio::time::timeout(LOAD_WAIT, rx.wait_for(|l| *l)).await;
    }

    fn push(&self, d: Delivered) {
        let mut messages = lock(&self.messages);
        // A consumer that reconnects may deliver again what it delivered: keep one.
        if messages.last().is_some_and(|last| last.offset >= d.offset) {
            return;
        }
        messages.push(d.clone());
        let _ = self.live.send(d);
    }
}

/// Every inbox the app reads.
pub struct Inboxes {
    client: Client,
    read: fn(Client, String, Arc<Inbox>) -> futures::future::BoxFuture<'static, ()>,
    inboxes: Mutex<HashMap<String, Arc<Inbox>>>,
}

impl Inboxes {
    /// No inbox yet; they are read as `W`.
    pub fn new<W: Wire>(client: Client) -> Arc<Inboxes> {
        fn read<W: Wire>(
            client: Client,
            user: String,
            inbox: Arc<Inbox>,
        ) -> futures::future::BoxFuture<'static, ()> {
            Box::pin(tail::<W>(client, user, inbox))
        }
        Arc::new(Inboxes { client, read: read::<W>, inboxes: Mutex::default() })
    }

    /// `user`'s inbox: its topic is created when missing (signing in, or a first
    /// message, makes the inbox), and read from then on.
    pub async fn open(&self, user: &str) -> Result<Arc<Inbox>, runnel::ClientError> {
        if let Some(inbox) = lock(&self.inboxes).get(user) {
            return Ok(inbox.clone());
        }
        // One partition: an inbox is one ordered list, its offsets the page's cursor.
        // Bound to the subject of `chat`, as the `route` function would bind it.
        let topic =
            NewTopic::new(inbox_topic(user)).partitions(1).value_subject(CHAT_SUBJECT).if_not_exists(true);
        self.client.create_topic(topic).await?;
        Ok(self.start(user))
    }

    /// Starts reading `user`'s (existing) inbox topic, unless already read.
    fn start(&self, user: &str) -> Arc<Inbox> {
        let mut inboxes = lock(&self.inboxes);
        if let Some(inbox) = inboxes.get(user) {
            return inbox.clone();
        }
        let inbox = Arc::new(Inbox {
            messages: Mutex::default(),
            live: broadcast::channel(256).0,
            loaded: watch::channel(false).0,
        });
        inboxes.insert(user.to_owned(), inbox.clone());
        tokio::spawn((self.read)(self.client.clone(), user.to_owned(), inbox.clone()));
        inbox
    }

    /// Starts reading every inbox topic not read yet, such as those another
    /// instance of the app or the `route` function created.
    pub async fn discover(&self) -> Result<(), runnel::ClientError> {
        let (prefix, suffix) = INBOX_TEMPLATE.split_once("{}").unwrap_or((INBOX_TEMPLATE, ""));
        for topic in self.client.list_topics().await? {
            let user = topic.name.strip_prefix(prefix).and_then(|rest| rest.strip_suffix(suffix));
            if let Some(user) = user.filter(|u| crate::model::check_name("user", u).is_ok()) {
                self.start(user);
            }
        }
        Ok(())
    }

    /// The messages `user` sent that have reached an inbox, oldest first.
    pub fn sent_by(&self, user: &str) -> Vec<Delivered> {
        let inboxes: Vec<Arc<Inbox>> = lock(&self.inboxes).values().cloned().collect();
        let mut sent: Vec<Delivered> =
            inboxes.iter().flat_map(|i| i.all()).filter(|d| d.message.from == user).collect();
        sent.sort_by_key(|d| d.message.sent_at_ms);
        sent
    }
}

/// Reads `user`'s inbox into `inbox`, forever: again from where it was after a
/// consumer that failed to start or ended.
async fn tail<W: Wire>(client: Client, user: String, inbox: Arc<Inbox>) {
    let topic = inbox_topic(&user);
    loop {
        if let Err(e) = read::<W>(&client, &topic, &inbox).await {
            eprintln!("messenger: reading {topic}: {e}; again in 1 s");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn read<W: Wire>(client: &Client, topic: &str, inbox: &Inbox) -> Result<(), runnel::ClientError> {
    // Where the inbox ends now: read up to there, it is "loaded". The end is a
    // transaction marker (the `route` function commits each turn), which no
    // consumer delivers: the last message is at most two offsets before it.
    // (Records are keyed by recipient, so one inbox is in one partition even
    // when the topic has more: the latest end is its end.)
    let end =
        client.list_offsets(topic, &[], Position::Latest).await?.iter().map(|&(_, o)| o).max().unwrap_or(0);
    let from = inbox.last_offset() + 1;
    if from + 1 >= end {
        inbox.loaded.send_replace(true);
    }
    let mut consumer = client.consumer::<W>(topic).from(Position::Offset(from)).subscribe().await?;
    loop {
        let next = if *inbox.loaded.borrow() {
            consumer.next().await
        } else {
            match tokio::time::timeout(QUIET, consumer.next()).await {
                Ok(next) => next,
                Err(_) => {
                    inbox.loaded.send_replace(true);
                    continue;
                }
            }
        };
        let msg = match next {
            Some(Ok(msg)) => msg,
            Some(Err(e)) => {
                // Not a chat message (a record of a schema this version cannot read).
                eprintln!("messenger: skipping a record of {topic}: {e}");
                continue;
            }
            None => return Ok(()),
        };
        let offset = msg.offset();
        inbox.push(Delivered { offset, message: msg.into_value().into_message() });
        if offset + 2 >= end {
            inbox.loaded.send_replace(true);
        }
    }
}
