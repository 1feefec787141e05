//! Per-token rate limits.

use std::collections::HashMap;
use std::sync::Mutex;

use super::secret::hash;

/// A fixed-window limit of requests per token per minute (per instance: each instance limits
/// on its own, which keeps instances independent).
pub struct RateLimiter {
    per_minute: u32,
    windows: Mutex<HashMap<[u8; 32], (i64, u32)>>,
}

impl RateLimiter {
    pub fn new(per_minute: u32) -> RateLimiter {
        RateLimiter {
            per_minute,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request for `token` at `now`; `Err(seconds to wait)` when over the limit.
    pub fn check(&self, token: &str, now: time::OffsetDateTime) -> Result<(), u64> {
        let minute = now.unix_timestamp() / 60;
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if windows.len() > 10_000 {
            windows.retain(|_, (m, _)| *m == minute);
        }
        let entry = windows.entry(hash(token)).or_insert((minute, 0));
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 += 1;
        if entry.1 > self.per_minute {
            Err((60 - now.unix_timestamp() % 60) as u64)
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_per_token_and_minute() {
        let limiter = RateLimiter::new(2);
        let t = time::OffsetDateTime::from_unix_timestamp(120).unwrap();
        assert!(limiter.check("a", t).is_ok());
        assert!(limiter.check("a", t).is_ok());
        assert_eq!(limiter.check("a", t), Err(60));
        assert!(limiter.check("b", t).is_ok());
        assert!(limiter.check("a", t + time::Duration::minutes(1)).is_ok());
    }
}
