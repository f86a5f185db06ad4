//! The configured payout providers, looked up by kind so flow code never matches on one.

use std::collections::HashMap;
use std::sync::Arc;

use domain::provider::{PayoutProvider, ProviderError, ProviderKind};

#[derive(Clone, Default)]
pub struct ProviderRegistry {
    providers: HashMap<ProviderKind, Arc<dyn PayoutProvider>>,
}

impl ProviderRegistry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn with(mut self, provider: Arc<dyn PayoutProvider>) -> Self {
        self.providers.insert(provider.kind(), provider);
        self
    }

    /// Every configured provider, in a stable order.
    pub fn all(&self) -> Vec<Arc<dyn PayoutProvider>> {
        let mut all: Vec<_> = self.providers.values().cloned().collect();
        all.sort_by_key(|p| p.kind().as_str());
        all
    }

    pub fn get(&self, kind: ProviderKind) -> Result<Arc<dyn PayoutProvider>, ProviderError> {
        self.providers
            .get(&kind)
            .cloned()
            .ok_or_else(|| ProviderError::NotSupported(format!("provider {kind} is not configured")))
    }
}
