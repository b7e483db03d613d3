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
    /// Chats opened, messages left and forms sent per client address and site in
    /// `public_window` (the public routes' limit against spam).
    pub public_max_requests: u32,
    pub public_window: std::time::Duration,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            session_ttl: time::Duration::hours(12),
            secure_cookies: false,
            max_body_bytes: 1024 * 1024,
            login_max_failures: 5,
            login_window: std::time::Duration::from_secs(300),
            public_max_requests: 20,
            public_window: std::time::Duration::from_secs(600),
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
    /// Places calls for agents, when telephony runs.
    pub dialer: Option<Arc<dyn Dialer>>,
    /// The folder calls are recorded under; only files below it are served.
    pub recordings: Option<std::path::PathBuf>,
    /// Sends agents' e-mail replies, when the e-mail service runs.
    pub mailer: Option<Arc<dyn Mailer>>,
    /// Where messages' attachments are kept (files named by their SHA-256).
    pub attachments: Option<std::path::PathBuf>,
    /// Web chat, when the binary runs it.
    pub chat: Option<hotline_channels::chat::ChatService>,
    pub public_limiter: Arc<LoginLimiter>,
}

/// Why a reply was not sent: a stable code (`no_mailbox`, `no_recipient`,
/// `invalid_recipient`, `invalid_mail`) and a message.
#[derive(Debug, Clone)]
pub struct MailRefusal {
    pub code: &'static str,
    pub message: String,
}

/// An agent's reply, as the API took it.
#[derive(Debug, Clone, Default)]
pub struct ReplyDraft {
    pub text: String,
    pub html: Option<String>,
    pub to: Vec<String>,
    /// Name, content type, bytes.
    pub attachments: Vec<(String, String, Vec<u8>)>,
}

/// Sends e-mail replies (the binary connects the e-mail service here; the API knows no SMTP).
pub trait Mailer: Send + Sync + 'static {
    /// Sends and records the reply; a server's refusal is recorded as a `failed` message and
    /// returned as such (not as an error).
    fn reply(
        &self,
        tenant_id: i64,
        interaction_id: i64,
        author: String,
        draft: ReplyDraft,
    ) -> futures_util::future::BoxFuture<'static, Result<hotline_model::Message, MailRefusal>>;
}

/// Why a call could not be placed: a stable code (`unknown_agent`, `invalid_phone`,
/// `no_route`, `telephony_unavailable`) and a message.
#[derive(Debug, Clone)]
pub struct DialRefusal {
    pub code: &'static str,
    pub message: String,
}

/// Places and moves calls (the binary connects telephony here; the API knows no SIP).
pub trait Dialer: Send + Sync + 'static {
    /// Rings the agent's phone, then calls `number` for them; the call's interaction id.
    fn click_to_call(
        &self,
        tenant_id: i64,
        agent_id: i64,
        number: String,
        customer_id: Option<i64>,
    ) -> futures_util::future::BoxFuture<'static, Result<i64, DialRefusal>>;

    /// Carries out call control on the live call of `interaction_id` (codes `call_not_live`:
    /// no such call in this server; `not_allowed_now`: the call's state does not allow it).
    fn control(
        &self,
        interaction_id: i64,
        command: hotline_model::CallControl,
    ) -> futures_util::future::BoxFuture<'static, Result<(), DialRefusal>>;
}

impl AppState {
    pub fn new(store: Store, config: ApiConfig) -> Self {
        let (events, _) = broadcast::channel(4096);
        let limiter = Arc::new(LoginLimiter::new(
            config.login_max_failures,
            config.login_window,
        ));
        let public_limiter = Arc::new(LoginLimiter::new(
            config.public_max_requests,
            config.public_window,
        ));
        AppState {
            store,
            config: Arc::new(config),
            events,
            limiter,
            metrics: Arc::new(Metrics::new()),
            routing: None,
            dialer: None,
            recordings: None,
            mailer: None,
            attachments: None,
            chat: None,
            public_limiter,
        }
    }

    /// The state with e-mail replies sent by `mailer` and attachments kept under `dir`.
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>, dir: std::path::PathBuf) -> Self {
        self.mailer = Some(mailer);
        self.attachments = Some(dir);
        self
    }

    /// The state with web chat served by `chat`; its news for the desks become live events
    /// (call within the runtime).
    pub fn with_chat(mut self, chat: hotline_channels::chat::ChatService) -> Self {
        let mut notices = chat.notices();
        let live = self.clone();
        tokio::spawn(async move {
            loop {
                match notices.recv().await {
                    Ok(n) => live.publish(LiveEvent::new(n.tenant_id, n.agent_id, n.kind, n.data)),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(missed, "chat notices for the desks were dropped");
                    }
                    Err(_) => break,
                }
            }
        });
        self.chat = Some(chat);
        self
    }

    /// The state with a dialer connected.
    pub fn with_dialer(mut self, dialer: Arc<dyn Dialer>) -> Self {
        self.dialer = Some(dialer);
        self
    }

    /// The state serving recordings from `dir`.
    pub fn with_recordings(mut self, dir: std::path::PathBuf) -> Self {
        self.recordings = Some(dir);
        self
    }

    /// The state with routing connected.
    pub fn with_routing(mut self, link: hotline_acd::AcdLink) -> Self {
        self.routing = Some(link);
        self
    }

    /// Tells routing that agents or queues changed in the store (skills, new agents, service
    /// levels), so the next decision uses them. Routing keeps the old configuration if it
    /// cannot reread; that is logged, and the change is stored either way.
    pub async fn reload_routing(&self) {
        if let Some(r) = &self.routing {
            if let Err(e) = r.reload().await {
                tracing::warn!(error = %e, "routing could not reread agents and queues");
            }
        }
    }

    /// Publishes a live event; nobody listening is fine.
    pub fn publish(&self, event: LiveEvent) {
        self.metrics.live_events.inc();
        let _ = self.events.send(event);
    }
}
