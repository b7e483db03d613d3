//! Shared state of the HTTP edge.

use crate::events::LiveEvent;
use crate::metrics::Metrics;
use crate::ratelimit::LoginLimiter;
use hotline_store::Store;
use std::sync::Arc;
use tokio::sync::broadcast;

/// How the API behaves; set by the binary from its configuration.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// How long a log-in session lasts.
    pub session_ttl: time::Duration,
    /// Mark the session cookie `Secure` (behind HTTPS).
    pub secure_cookies: bool,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Failed log-ins allowed per user name (and per client address) in `login_window`.
    pub login_max_failures: u32,
    pub login_window: std::time::Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            session_ttl: time::Duration::hours(12),
            secure_cookies: false,
            max_body_bytes: 1024 * 1024,
            login_max_failures: 5,
            login_window: std::time::Duration::from_secs(300),
        }
    }
}

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub config: Arc<ApiConfig>,
    pub events: broadcast::Sender<LiveEvent>,
    pub limiter: Arc<LoginLimiter>,
    pub metrics: Arc<Metrics>,
    /// Routing, when the binary runs it (agents' presence goes there).
    pub routing: Option<hotline_acd::AcdLink>,
}

impl AppState {
    pub fn new(store: Store, config: ApiConfig) -> Self {
        let (events, _) = broadcast::channel(4096);
        let limiter = Arc::new(LoginLimiter::new(
            config.login_max_failures,
            config.login_window,
        ));
        AppState {
            store,
            config: Arc::new(config),
            events,
            limiter,
            metrics: Arc::new(Metrics::new()),
            routing: None,
        }
    }

    /// The state with routing connected.
    pub fn with_routing(mut self, link: hotline_acd::AcdLink) -> Self {
        self.routing = Some(link);
        self
    }

    /// Publishes a live event; nobody listening is fine.
    pub fn publish(&self, event: LiveEvent) {
        self.metrics.live_events.inc();
        let _ = self.events.send(event);
    }
}
