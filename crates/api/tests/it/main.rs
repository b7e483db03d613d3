//! HTTP API tests: the router driven with `tower::ServiceExt::oneshot`, over a real SQLite store.

mod callbacks;
mod desk;
mod dialplan;
mod errors;
mod flows;
mod isolation;
mod messages;
mod presence;
mod sessions;
mod web;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use hotline_api::{router, ApiConfig, AppState};
use hotline_model::Role;
use hotline_store::{ConnectOptions, NewTenant, NewUser, Store};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

pub const PASSWORD: &str = "test-password-1";

pub struct TestApp {
    pub app: Router,
    pub state: AppState,
    pub store: Store,
    /// Routing, as the binary runs it (its commands are kept, not carried out).
    pub acd: hotline_acd::Acd,
    pub routing_commands: tokio::sync::mpsc::Receiver<hotline_routing::Command>,
    /// The folder recordings are served from.
    pub recordings: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Reply {
    /// The stable error code, or "" for a success.
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }
}

impl TestApp {
    /// Two tenants, `a` and `b`, each with users `<t>-admin`, `<t>-super`, `<t>-agent`.
    pub async fn new() -> TestApp {
        Self::with_config(ApiConfig::default()).await
    }

    pub async fn with_config(config: ApiConfig) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = Store::connect(&url, &ConnectOptions::default())
            .await
            .unwrap();
        store.migrate().await.unwrap();
        for slug in ["a", "b"] {
            let t = store
                .create_tenant(&NewTenant {
                    name: slug.into(),
                    slug: slug.into(),
                    default_region: "RU".into(),
                    timezone: "Europe/Moscow".into(),
                })
                .await
                .unwrap();
            for (suffix, role) in [
                ("admin", Role::Admin),
                ("super", Role::Supervisor),
                ("agent", Role::Agent),
            ] {
                store
                    .create_user(
                        t.id,
                        &NewUser {
                            username: format!("{slug}-{suffix}"),
                            display_name: format!("{slug} {suffix}"),
                            role,
                            password: PASSWORD.into(),
                        },
                    )
                    .await
                    .unwrap();
            }
        }
        let (commands, routing_commands) = tokio::sync::mpsc::channel(1024);
        let acd = hotline_acd::Acd::start(store.clone(), commands)
            .await
            .unwrap();
        let recordings = dir.path().join("recordings");
        std::fs::create_dir_all(&recordings).unwrap();
        let chat = hotline_channels::chat::ChatService::start(
            store.clone(),
            acd.link(),
            dir.path().join("attachments"),
        );
        let state = AppState::new(store.clone(), config)
            .with_routing(acd.link())
            .with_recordings(recordings.clone())
            .with_chat(chat);
        TestApp {
            app: router(state.clone()),
            state,
            store,
            acd,
            routing_commands,
            recordings,
            _dir: dir,
        }
    }

    pub async fn raw(&self, req: Request<Body>) -> Reply {
        let is_health = req.uri().path() == "/healthz";
        let res = self.app.clone().oneshot(req).await.unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        if is_health {
            return Reply {
                status,
                headers,
                body,
            };
        }
        if status.is_client_error() || status.is_server_error() {
            assert!(
                body["error"]["code"].is_string(),
                "every error has the JSON shape: {status} {body}"
            );
        }
        assert!(
            !status.is_server_error(),
            "no input produces a 5xx: {status} {body}"
        );
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn call(
        &self,
        method: Method,
        uri: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = Request::builder().method(method).uri(uri);
        if let Some(t) = token {
            req = req.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        let req = match body {
            Some(b) => req
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(b.to_string())),
            None => req.body(Body::empty()),
        };
        self.raw(req.unwrap()).await
    }

    pub async fn login(&self, username: &str) -> String {
        let r = self
            .call(
                Method::POST,
                "/api/v1/auth/login",
                None,
                Some(serde_json::json!({"username": username, "password": PASSWORD})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        r.body["token"].as_str().unwrap().to_string()
    }

    pub async fn get(&self, uri: &str, token: &str) -> Reply {
        self.call(Method::GET, uri, Some(token), None).await
    }
    pub async fn post(&self, uri: &str, token: &str, body: Value) -> Reply {
        self.call(Method::POST, uri, Some(token), Some(body)).await
    }
    pub async fn patch(&self, uri: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PATCH, uri, Some(token), Some(body)).await
    }
    pub async fn delete(&self, uri: &str, token: &str) -> Reply {
        self.call(Method::DELETE, uri, Some(token), None).await
    }
    pub async fn put(&self, uri: &str, token: &str, body: Value) -> Reply {
        self.call(Method::PUT, uri, Some(token), Some(body)).await
    }
}

#[test]
fn openapi_document_is_committed_and_current() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    let generated = hotline_api::openapi::document_json();
    assert!(
        committed == generated,
        "docs/openapi.json differs from the code; regenerate it with `cargo xtask openapi`"
    );
    let doc: Value = serde_json::from_str(&generated).unwrap();
    assert_eq!(
        doc["openapi"].as_str().map(|v| v.starts_with("3.")),
        Some(true)
    );
    for path in [
        "/api/v1/customers/lookup",
        "/api/v1/auth/login",
        "/api/v1/interactions/{id}/events",
        "/healthz",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is documented");
    }
}
