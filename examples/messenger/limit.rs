//! A per-sender rate limit: a token bucket per user name, so that one sender's
//! flood is refused (HTTP 429, with when to try again) while everyone else's
//! messages go on.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Messages one sender may send at once.
pub const BURST: f64 = 10.0;
/// Messages per second one sender may keep sending.
pub const PER_SECOND: f64 = 2.0;

#[derive(Default)]
pub struct RateLimit {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimit {
    /// Takes one message from `sender`'s allowance, or says how long until there is one.
    pub fn take(&self, sender: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        // Forget senders whose bucket is full again, so the map stays small.
        if buckets.len() > 10_000 {
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs_f64() * PER_SECOND < BURST);
        }
        let (tokens, at) = buckets.entry(sender.to_owned()).or_insert((BURST, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * PER_SECOND).min(BURST);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / PER_SECOND))
        }
    }
}
