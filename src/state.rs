//! What every handler and the worker share.

use std::sync::Arc;

use crate::clock::DynClock;
use crate::config::Config;
use crate::store::DynStore;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Arc<Config>,
    pub store: DynStore,
    pub clock: DynClock,
}

impl AppState {
    pub fn new(config: Arc<Config>, store: DynStore, clock: DynClock) -> Self {
        Self(Arc::new(Inner {
            config,
            store,
            clock,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}
