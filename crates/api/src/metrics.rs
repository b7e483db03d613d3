//! Prometheus metrics at `GET /metrics`: requests by route and status, latency, live WebSocket
//! clients, database pool use, live events published, screen-pop latency.

use crate::state::AppState;
use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::{text::encode, EncodeLabelSet};
use prometheus_client::metrics::{
    counter::Counter, family::Family, gauge::Gauge, histogram::Histogram,
};
use prometheus_client::registry::Registry;
use std::time::Instant;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub latency: Family<RouteLabels, Histogram>,
    pub ws_clients: Gauge,
    pub live_events: Counter,
    pub db_connections: Gauge,
    pub db_idle: Gauge,
    /// From a contact's offer (`offered_at`) to its screen pop handed to a desk's WebSocket.
    pub screen_pop: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("hotline");
        let requests = Family::<RequestLabels, Counter>::default();
        let latency = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
            ])
        });
        let ws_clients = Gauge::default();
        let live_events = Counter::default();
        let db_connections = Gauge::default();
        let db_idle = Gauge::default();
        let screen_pop = Histogram::new([
            0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.25, 1.0,
        ]);
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "HTTP request latency",
            latency.clone(),
        );
        registry.register(
            "websocket_clients",
            "Connected live-event WebSocket clients",
            ws_clients.clone(),
        );
        registry.register("live_events", "Live events published", live_events.clone());
        registry.register(
            "db_connections",
            "Open database connections",
            db_connections.clone(),
        );
        registry.register(
            "db_connections_idle",
            "Idle database connections",
            db_idle.clone(),
        );
        registry.register(
            "screen_pop_seconds",
            "From a contact's offer to its screen pop written to a desk's WebSocket",
            screen_pop.clone(),
        );
        Metrics {
            registry,
            screen_pop,
            requests,
            latency,
            ws_clients,
            live_events,
            db_connections,
            db_idle,
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// Counts and times every request under its route template (`/api/v1/customers/{id}`), never
/// under the raw path, so ids and phone numbers do not become label values.
pub async fn track(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_string();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    let res = next.run(req).await;
    let status = res.status().as_u16();
    state
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            route: route.clone(),
            status,
        })
        .inc();
    state
        .metrics
        .latency
        .get_or_create(&RouteLabels { method, route })
        .observe(start.elapsed().as_secs_f64());
    res
}

pub async fn render(State(state): State<AppState>) -> impl IntoResponse {
    let (size, idle) = state.store.pool_stats();
    state.metrics.db_connections.set(i64::from(size));
    state
        .metrics
        .db_idle
        .set(i64::try_from(idle).unwrap_or(i64::MAX));
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
