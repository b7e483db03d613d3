//! Hotline's HTTP edge: the only crate with HTTP types.
//!
//! - [`router`]: every route under `/api/v1`, plus `/healthz` and `/metrics`.
//! - [`error`]: the one JSON error shape and the extractors that produce it.
//! - [`auth`]: sessions, Bearer tokens, role checks.
//! - [`routes`]: handlers, one file per entity family.
//! - [`events`]: live events over WebSocket, filtered by tenant and role.
//! - [`openapi`]: the OpenAPI 3 document generated from the handlers.
//! - [`metrics`], [`ratelimit`]: Prometheus counters; log-in throttling.
//! - [`web`]: the workplace's files (`web/` at the repository's root), built into the binary.

pub mod auth;
pub mod error;
pub mod events;
pub mod metrics;
pub mod openapi;
pub mod ratelimit;
pub mod routes;
pub mod state;
pub mod web;

pub use events::LiveEvent;
pub use state::{ApiConfig, AppState, DialRefusal, Dialer, MailRefusal, Mailer, ReplyDraft};

use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post, put};
use axum::Router;
use error::ApiError;
use routes::{
    admin, agents, auth as auth_routes, callbacks, catalog, customers, desk, flows, interactions,
    messages, site, system, telephony,
};

pub fn router(state: AppState) -> Router {
    // What a company's web pages call without logging in (CORS; each route checks the
    // page's origin against the site's).
    let preflight = || async { StatusCode::NO_CONTENT };
    let public = Router::new()
        .route("/sites/{key}", get(site::site_status).options(preflight))
        .route(
            "/sites/{key}/chats",
            post(site::open_chat).options(preflight),
        )
        .route(
            "/sites/{key}/messages",
            post(site::leave_message).options(preflight),
        )
        .route(
            "/sites/{key}/forms",
            post(site::submit_form).options(preflight),
        )
        .route("/chat", get(site::visitor_socket))
        .route(
            "/chat/files",
            post(site::visitor_file)
                .options(preflight)
                .layer(DefaultBodyLimit::max(site::MAX_CHAT_FILE)),
        )
        .route(
            "/chat/files/{id}",
            get(site::visitor_download).options(preflight),
        )
        .layer(axum::middleware::from_fn(site::cors));
    let api = Router::new()
        .route("/auth/login", post(auth_routes::login))
        .route("/auth/logout", post(auth_routes::logout))
        .route("/auth/logout-all", post(auth_routes::logout_all))
        .route("/auth/me", get(auth_routes::me))
        .route(
            "/tenant",
            get(admin::get_tenant).patch(admin::update_tenant),
        )
        .route(
            "/tenants",
            get(admin::list_tenants).post(admin::create_tenant),
        )
        .route(
            "/tenants/{id}",
            axum::routing::patch(admin::update_any_tenant),
        )
        .route("/users", get(admin::list_users).post(admin::create_user))
        .route(
            "/users/{id}",
            get(admin::get_user).patch(admin::update_user),
        )
        .route("/tokens", get(admin::list_tokens).post(admin::create_token))
        .route("/tokens/{id}", axum::routing::delete(admin::revoke_token))
        .route("/agents", get(agents::list).post(agents::create))
        .route(
            "/agents/{id}",
            get(agents::get)
                .patch(agents::update)
                .delete(agents::delete),
        )
        .route("/agents/{id}/presence", put(agents::presence))
        .route("/agents/{id}/state", get(desk::agent_state))
        .route("/agents/{id}/wrap-up", post(desk::wrap_up))
        .route("/wallboard", get(desk::wallboard))
        .route("/callbacks", get(callbacks::list).post(callbacks::create))
        .route("/callbacks/{id}", axum::routing::delete(callbacks::cancel))
        .route("/interactions/{id}/recording", get(desk::recording))
        .route(
            "/email-accounts",
            get(messages::list_accounts).post(messages::create_account),
        )
        .route(
            "/email-accounts/{id}",
            axum::routing::delete(messages::delete_account),
        )
        .route(
            "/interactions/{id}/messages",
            get(messages::list).post(messages::reply),
        )
        .route("/interactions/{id}/accept", post(messages::accept))
        .route("/interactions/{id}/decline", post(messages::decline))
        .route("/interactions/{id}/finish", post(messages::finish))
        .route("/attachments/{id}", get(messages::attachment))
        .route("/calls", post(interactions::place_call))
        .route("/interactions/{id}/transfer", post(interactions::transfer))
        .route("/interactions/{id}/control", post(interactions::control))
        .route(
            "/interactions/{id}/monitor",
            post(interactions::monitor).delete(interactions::stop_monitor),
        )
        .route(
            "/queues",
            get(catalog::list_queues).post(catalog::create_queue),
        )
        .route(
            "/queues/{id}",
            get(catalog::get_queue)
                .patch(catalog::update_queue)
                .delete(catalog::delete_queue),
        )
        .route(
            "/dispositions",
            get(catalog::list_dispositions).post(catalog::create_disposition),
        )
        .route(
            "/dispositions/{id}",
            axum::routing::patch(catalog::update_disposition).delete(catalog::delete_disposition),
        )
        .route(
            "/scripts",
            get(catalog::list_scripts).post(catalog::create_script),
        )
        .route(
            "/scripts/{id}",
            get(catalog::get_script)
                .patch(catalog::update_script)
                .delete(catalog::delete_script),
        )
        .route("/customers", get(customers::search).post(customers::create))
        .route("/customers/lookup", get(customers::lookup))
        .route(
            "/customers/{id}",
            get(customers::get)
                .patch(customers::update)
                .delete(customers::delete),
        )
        .route("/customers/{id}/card", get(customers::card))
        .route(
            "/customers/{id}/identifiers",
            post(customers::add_identifier),
        )
        .route("/customers/{id}/merge", post(customers::merge))
        .route(
            "/interactions",
            get(interactions::list).post(interactions::create),
        )
        .route(
            "/interactions/{id}",
            get(interactions::get).patch(interactions::update),
        )
        .route(
            "/interactions/{id}/events",
            get(interactions::events).post(interactions::append_event),
        )
        .route(
            "/sip/trunks",
            get(telephony::list_trunks).post(telephony::create_trunk),
        )
        .route(
            "/sip/trunks/{id}",
            axum::routing::delete(telephony::delete_trunk),
        )
        .route(
            "/sip/numbers",
            get(telephony::list_numbers).post(telephony::create_number),
        )
        .route(
            "/sip/numbers/{id}",
            axum::routing::delete(telephony::delete_number),
        )
        .route(
            "/sip/routes",
            get(telephony::list_routes).post(telephony::create_route),
        )
        .route(
            "/sip/routes/{id}",
            axum::routing::delete(telephony::delete_route),
        )
        .route("/flows", get(flows::list))
        .route("/flows/check", post(flows::check))
        .route("/flows/{name}", get(flows::get).put(flows::save))
        .route("/flows/{name}/versions", get(flows::versions))
        .route(
            "/calendars",
            get(flows::get_calendars).put(flows::put_calendars),
        )
        .route(
            "/lookup-tables/{table}",
            axum::routing::put(flows::put_rows),
        )
        .route("/lookup-tables/{table}/{key}", get(flows::get_row))
        .route("/events", get(events::stream))
        .route("/interactions/{id}/typing", post(messages::typing))
        .route("/sites", get(site::list_sites).post(site::create_site))
        .route("/sites/{id}", axum::routing::delete(site::delete_site))
        .route(
            "/templates",
            get(site::list_templates).post(site::create_template),
        )
        .route(
            "/templates/{id}",
            axum::routing::delete(site::delete_template),
        )
        .nest("/public", public)
        .route("/openapi.json", get(system::openapi));
    Router::new()
        .nest("/api/v1", api)
        .route("/chat/widget.js", get(site::widget_js))
        .route("/", get(web::index))
        .route("/assets/{file}", get(web::asset))
        .route("/healthz", get(system::healthz))
        .route("/metrics", get(metrics::render))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::track,
        ))
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .with_state(state)
}
