//! Allocation quotas (per user and in total) as a ledger that several cores can share: a
//! server sharded across threads still enforces one limit per user and one in total.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use stun::ErrorCode;

/// Counts allocations per username and in total against fixed limits.
#[derive(Debug)]
pub struct AllocationLedger {
    max_total: usize,
    max_per_user: usize,
    inner: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    per_user: HashMap<Arc<str>, usize>,
}

impl AllocationLedger {
    pub fn new(max_total: usize, max_per_user: usize) -> Arc<AllocationLedger> {
        Arc::new(AllocationLedger {
            max_total,
            max_per_user,
            inner: Mutex::new(Counts::default()),
        })
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// RFC 8656 §7.2: take one allocation for `user`, or the error to answer with
    /// (486 over the user's quota, 508 over the server's).
    pub fn acquire(&self, user: &Arc<str>) -> Result<(), ErrorCode> {
        let mut c = self.counts();
        let mine = c.per_user.get(user).copied().unwrap_or(0);
        if mine >= self.max_per_user {
            return Err(ErrorCode::ALLOCATION_QUOTA_REACHED);
        }
        if c.total >= self.max_total {
            return Err(ErrorCode::INSUFFICIENT_CAPACITY);
        }
        c.total += 1;
        c.per_user.insert(user.clone(), mine + 1);
        Ok(())
    }

    /// Give back an allocation taken with [`acquire`](Self::acquire).
    pub fn release(&self, user: &str) {
        let mut c = self.counts();
        if let Some(n) = c.per_user.get_mut(user) {
            *n -= 1;
            if *n == 0 {
                c.per_user.remove(user);
            }
            c.total -= 1;
        }
    }

    /// Allocations held in total.
    pub fn total(&self) -> usize {
        self.counts().total
    }

    /// Allocations held by `user`.
    pub fn held_by(&self, user: &str) -> usize {
        self.counts().per_user.get(user).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_per_user_and_in_total() {
        let l = AllocationLedger::new(3, 2);
        let a: Arc<str> = "a".into();
        let b: Arc<str> = "b".into();
        assert_eq!(l.acquire(&a), Ok(()));
        assert_eq!(l.acquire(&a), Ok(()));
        assert_eq!(l.acquire(&a), Err(ErrorCode::ALLOCATION_QUOTA_REACHED));
        assert_eq!(l.acquire(&b), Ok(()));
        assert_eq!(l.acquire(&b), Err(ErrorCode::INSUFFICIENT_CAPACITY));
        l.release("a");
        assert_eq!(l.acquire(&b), Ok(()));
        assert_eq!((l.total(), l.held_by("a"), l.held_by("b")), (3, 1, 2));
        l.release("nobody");
        assert_eq!(l.total(), 3);
    }
}
