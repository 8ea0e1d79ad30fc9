//! The message on the wire and the rules for what may be sent.
//!
//! `ChatMessage` is the app's current version (v2: `reply_to` added, optional with a
//! default, so the registry accepts it as a backward-compatible evolution of
//! `chat-value`). `ChatMessageV1` is the previous release's type, kept so that the
//! previous release can still run next to this one during a rollout
//! (`MESSENGER_SCHEMA=v1`): the typed consumer resolves each record from its
//! writer's schema to the reader's type, so either version reads the other's records.

use runnel::Avro;
use serde::{Deserialize, Serialize};

/// One chat message (v2), as stored on `chat` and on every `inbox-<user>` topic.
#[derive(Avro, Serialize, Deserialize, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example.messenger", name = "ChatMessage")]
pub struct ChatMessage {
    /// A random id (UUID), for replies and for the page to recognise a message.
    pub id: String,
    /// The sender's user name.
    pub from: String,
    /// The recipient's user name: the key of the record, and the inbox it is routed to.
    pub to: String,
    /// The text, shown as text (never as HTML).
    pub text: String,
    /// When it was sent, ms since the epoch.
    pub sent_at_ms: i64,
    /// v2: the id of the message this one answers.
    #[avro(default = "null")]
    pub reply_to: Option<String>,
}

/// The same message as the first release wrote and read it (no `reply_to`).
#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example.messenger", name = "ChatMessage")]
pub struct ChatMessageV1 {
    pub id: String,
    pub from: String,
    pub to: String,
    pub text: String,
    pub sent_at_ms: i64,
}

/// A version of the message the app can run with: converts to and from the
/// app's own [`ChatMessage`].
pub trait Wire: Avro + Clone + Send + Sync + 'static {
    /// 1 or 2, for the log lines and `GET /version`.
    const VERSION: u32;
    fn from_message(m: &ChatMessage) -> Self;
    fn into_message(self) -> ChatMessage;
}

impl Wire for ChatMessage {
    const VERSION: u32 = 2;
    fn from_message(m: &ChatMessage) -> Self {
        m.clone()
    }
    fn into_message(self) -> ChatMessage {
        self
    }
}

impl Wire for ChatMessageV1 {
    const VERSION: u32 = 1;
    /// v1 has nowhere to put `reply_to`: it is dropped, as the old release did.
    fn from_message(m: &ChatMessage) -> Self {
        ChatMessageV1 {
            id: m.id.clone(),
            from: m.from.clone(),
            to: m.to.clone(),
            text: m.text.clone(),
            sent_at_ms: m.sent_at_ms,
        }
    }
    fn into_message(self) -> ChatMessage {
        let ChatMessageV1 { id, from, to, text, sent_at_ms } = self;
        ChatMessage { id, from, to, text, sent_at_ms, reply_to: None }
    }
}

/// Longest user name. Names become topic names (`inbox-<name>`), hence the
/// small alphabet.
pub const MAX_NAME: usize = 32;
/// Longest text, in characters.
pub const MAX_TEXT: usize = 2000;

/// Why a name is not a user name, if it is not.
pub fn check_name(field: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        && !name.starts_with('-')
        && !name.starts_with('_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{field}`: {} is not a user name (use 1 to {MAX_NAME} of a-z, 0-9, '_' and '-', starting with a letter or digit)",
            serde_json::Value::String(name.chars().take(60).collect())
        ))
    }
}

/// Why a text cannot be sent, if it cannot; the text as sent otherwise
/// (trailing and leading white space removed).
pub fn check_text(text: &str) -> Result<String, (u16, String)> {
    let text = text.trim();
    if text.is_empty() {
        return Err((400, "the message is empty".into()));
    }
    let n = text.chars().count();
    if n > MAX_TEXT {
        return Err((413, format!("the message is {n} characters long; at most {MAX_TEXT} may be sent")));
    }
    Ok(text.to_owned())
}
