//! Admission control: one budget of bytes shared by every request in flight.
//!
//! A request holds a [`Ticket`] from before its body is read until its events are durable (or
//! it fails). The ticket grows at each stage by what that stage holds in memory: the body (its
//! `Content-Length` up front, or chunk by chunk), the decompressed body, the decoded request
//! (estimated from its structure before decoding: `cutover_parsers::protosize`) and the
//! encoded events. Growing never waits: when the budget cannot cover a stage the request is
//! refused at once as overloaded (503/429, UNAVAILABLE) with a retry hint, and a stage larger
//! than the whole budget is refused as too large (413, RESOURCE_EXHAUSTED). Dropping the
//! ticket returns its bytes.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::IngestError;

/// The shared budget.
#[derive(Debug, Clone)]
pub struct Admission {
    sem: Arc<Semaphore>,
    total: u64,
}

/// Bytes one request holds; returned on drop.
#[derive(Debug)]
pub struct Ticket {
    admission: Admission,
    permit: Option<OwnedSemaphorePermit>,
    held: u64,
}

impl Admission {
    /// A budget of `total_bytes`.
    pub fn new(total_bytes: u64) -> Admission {
        let total = total_bytes.clamp(1, Semaphore::MAX_PERMITS as u64);
        Admission {
            sem: Arc::new(Semaphore::new(total as usize)),
            total,
        }
    }

    /// An empty ticket for one request.
    pub fn ticket(&self) -> Ticket {
        Ticket {
            admission: self.clone(),
            permit: None,
            held: 0,
        }
    }

    /// Bytes held by requests now.
    pub fn in_use(&self) -> u64 {
        self.total - self.sem.available_permits() as u64
    }

    /// The budget.
    pub fn total(&self) -> u64 {
        self.total
    }
}

impl Ticket {
    /// Takes `bytes` more from the budget, or refuses the request.
    pub fn grow(&mut self, bytes: u64) -> Result<(), IngestError> {
        if bytes == 0 {
            return Ok(());
        }
        let total = self.admission.total;
        let too_much = || {
            IngestError::Exhausted(format!(
                "the request needs more than the {total} bytes of memory allowed for all requests in flight (limits.inflight_bytes)"
            ))
        };
        if self.held + bytes > total {
            return Err(too_much());
        }
        let n = u32::try_from(bytes).map_err(|_| too_much())?;
        let permit = self
            .admission
            .sem
            .clone()
            .try_acquire_many_owned(n)
            .map_err(|_| IngestError::Overloaded)?;
        match &mut self.permit {
            Some(p) => p.merge(permit),
            None => self.permit = Some(permit),
        }
        self.held += bytes;
        Ok(())
    }

    /// Bytes this request holds.
    pub fn held(&self) -> u64 {
        self.held
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_share_the_budget_and_return_it_on_drop() {
        let a = Admission::new(1000);
        let mut t1 = a.ticket();
        t1.grow(600).unwrap();
        let mut t2 = a.ticket();
        assert!(matches!(t2.grow(500), Err(IngestError::Overloaded)));
        t2.grow(400).unwrap();
        assert_eq!(a.in_use(), 1000);
        assert!(matches!(a.ticket().grow(1001), Err(IngestError::Exhausted(_))));
        drop(t1);
        assert_eq!(a.in_use(), 400);
        t2.grow(600).unwrap();
        assert_eq!(t2.held(), 1000);
        drop(t2);
        assert_eq!(a.in_use(), 0);
    }
}
