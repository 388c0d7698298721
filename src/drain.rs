//! The drain before a stop. Once it begins, `/health/ready` answers 503, so that load
//! balancers stop opening connections to this replica, and every response asks its client to
//! close the connection (`Connection: close`), so that kept-alive clients reconnect to a
//! ready replica. The server goes on accepting meanwhile: a balancer that has not yet seen
//! the readiness flip still gets answers. `Application::run_until_stop` times it.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

/// Whether the drain has begun; clones share it.
#[derive(Debug, Clone, Default)]
pub struct Draining(Arc<AtomicBool>);

impl Draining {
    pub fn begin(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_draining(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}
