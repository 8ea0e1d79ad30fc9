//! Per-tenant quotas: produce and consume rates as token buckets that throttle (a
//! request over the rate is answered late, by as much as it overdrew the bucket, so
//! a client that waits for its answers is slowed to the rate and never refused), the
//! bytes a tenant's logs may hold (produce is refused with RESOURCE_EXHAUSTED above
//! it) and how many topics it may have (creation is refused beyond it).
//!
//! Every tenant has its own buckets, so one tenant over its quota delays only its own
//! requests: the delay is a sleep in that request's task, holding no lock and no
//! partition writer. The limits as stored ([`TenantQuotas`]) are a record of `meta.redb`;
//! this is their live state, shared by a tenant's topics.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub use crate::meta::records::TenantQuotas;

/// The longest one request is held back; a bucket deeper in debt keeps the debt, so the
/// following requests wait their share and the rate still holds on average.
const MAX_THROTTLE: Duration = Duration::from_secs(30);

/// A token bucket of bytes: refills at `rate` bytes/s up to one second's worth, and may
/// go into debt; the debt is how long the caller must wait.
#[derive(Debug)]
pub struct TokenBucket {
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    /// Bytes per second; 0 = unlimited.
    rate: u64,
    /// Bytes available now; negative = owed.
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket refilling at `rate` bytes/s (0 = unlimited).
    pub fn new(rate: u64) -> TokenBucket {
        TokenBucket { state: Mutex::new(Bucket { rate, tokens: rate as f64, last: Instant::now() }) }
    }

    /// Changes the rate; the bucket starts full at the new rate.
    pub fn set_rate(&self, rate: u64) {
        let mut b = self.state.lock();
        if b.rate != rate {
            *b = Bucket { rate, tokens: rate as f64, last: Instant::now() };
        }
    }

    /// Takes `bytes` from the bucket and returns how long to hold the request back so that
    /// the rate holds (zero while the bucket has tokens, or without a rate).
    pub fn charge(&self, bytes: u64) -> Duration {
        self.charge_at(bytes, Instant::now())
    }

    fn charge_at(&self, bytes: u64, now: Instant) -> Duration {
        let mut b = self.state.lock();
        if b.rate == 0 {
            return Duration::ZERO;
        }
        let rate = b.rate as f64;
        let elapsed = now.saturating_duration_since(b.last).as_secs_f64();
        b.last = now;
        // At most one second's worth saved up: a burst, not a backlog.
        b.tokens = (b.tokens + elapsed * rate).min(rate) - bytes as f64;
        if b.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-b.tokens / rate).min(MAX_THROTTLE)
        }
    }
}

/// A tenant's live quota state: its buckets and limits, shared by its topics.
#[derive(Debug)]
pub struct TenantQuota {
    /// The tenant's name.
    pub tenant: String,
    /// Produce bytes.
    pub produce: TokenBucket,
    /// Consume (fetch) bytes.
    pub consume: TokenBucket,
    storage_bytes: AtomicU64,
    max_topics: AtomicU32,
}

impl TenantQuota {
    /// The live state for `tenant` with `quotas`.
    pub fn new(tenant: &str, quotas: TenantQuotas) -> TenantQuota {
        TenantQuota {
            tenant: tenant.to_owned(),
            produce: TokenBucket::new(quotas.produce_bytes_per_sec),
            consume: TokenBucket::new(quotas.consume_bytes_per_sec),
            storage_bytes: AtomicU64::new(quotas.storage_bytes),
            max_topics: AtomicU32::new(quotas.max_topics),
        }
    }

    /// Applies new limits (the buckets restart full when a rate changes).
    pub fn set(&self, quotas: TenantQuotas) {
        self.produce.set_rate(quotas.produce_bytes_per_sec);
        self.consume.set_rate(quotas.consume_bytes_per_sec);
        self.storage_bytes.store(quotas.storage_bytes, Relaxed);
        self.max_topics.store(quotas.max_topics, Relaxed);
    }

    /// Bytes the tenant's logs may hold; 0 = unlimited.
    pub fn storage_limit(&self) -> u64 {
        self.storage_bytes.load(Relaxed)
    }

    /// Topics the tenant may hold; 0 = unlimited.
    pub fn max_topics(&self) -> u32 {
        self.max_topics.load(Relaxed)
    }
}

/// Holds a request back by `delay` (a throttle), unless it is zero.
pub async fn throttle(delay: Duration) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_a_burst_then_paces_to_the_rate() {
        let b = TokenBucket::new(1000);
        let t0 = Instant::now();
        assert_eq!(b.charge_at(1000, t0), Duration::ZERO, "one second's worth passes at once");
        // 500 more bytes with an empty bucket: half a second of debt.
        let d = b.charge_at(500, t0);
        assert!((d.as_secs_f64() - 0.5).abs() < 1e-6, "{d:?}");
        // A second later the debt is paid and 500 tokens are back.
        assert_eq!(b.charge_at(500, t0 + Duration::from_secs(1)), Duration::ZERO);
        // Without a rate nothing waits.
        let free = TokenBucket::new(0);
        assert_eq!(free.charge_at(u64::MAX, t0), Duration::ZERO);
    }

    #[test]
    fn delay_is_capped_and_debt_kept() {
        let b = TokenBucket::new(10);
        let t0 = Instant::now();
        assert_eq!(b.charge_at(1_000_000, t0), MAX_THROTTLE);
        assert_eq!(b.charge_at(1, t0), MAX_THROTTLE, "the debt is still owed");
        b.set_rate(20);
        assert_eq!(b.charge_at(20, Instant::now()), Duration::ZERO, "a new rate starts full");
    }
}
