//! Storage conformance suite: every test runs on SQLite and on PostgreSQL.
//!
//! PostgreSQL comes from `HOTLINE_TEST_POSTGRES_URL` (the test command starts a throwaway server
//! and sets it); each test gets a schema of its own. With `HOTLINE_REQUIRE_POSTGRES=1` (set by the
//! test command) a missing URL fails the PostgreSQL half instead of skipping it.

mod conformance;

use hotline_store::{ConnectOptions, Store};
use sqlx::postgres::PgConnectOptions;
use std::str::FromStr;

pub struct Backend {
    pub store: Store,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("hotline.db").display());
    let store = Store::connect(&url, &ConnectOptions::default())
        .await
        .expect("open sqlite");
    store.migrate().await.expect("migrate sqlite");
    Backend {
        store,
        _dir: Some(dir),
    }
}

/// A fresh schema on the test PostgreSQL, or `None` when there is none and none is required.
pub async fn postgres() -> Option<Backend> {
    let Ok(url) = std::env::var("HOTLINE_TEST_POSTGRES_URL") else {
        assert!(
            std::env::var("HOTLINE_REQUIRE_POSTGRES").as_deref() != Ok("1"),
            "HOTLINE_REQUIRE_POSTGRES=1 but HOTLINE_TEST_POSTGRES_URL is not set"
        );
        eprintln!(
            "note: HOTLINE_TEST_POSTGRES_URL not set; the PostgreSQL half of this test did not run"
        );
        return None;
    };
    let admin = Store::connect(
        &url,
        &ConnectOptions {
            max_connections: 1,
            ..Default::default()
        },
    )
    .await
    .expect("connect to the test PostgreSQL");
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("randomness");
    let schema = format!("t_{}", hex::encode(bytes));
    admin
        .execute_unchecked(&format!("CREATE SCHEMA {schema}"))
        .await
        .expect("create schema");
    admin.close().await;
    let options = PgConnectOptions::from_str(&url)
        .expect("url")
        .options([("search_path", schema.as_str())]);
    let store = Store::connect_postgres(options, &ConnectOptions::default())
        .await
        .expect("connect schema");
    store.migrate().await.expect("migrate postgres");
    Some(Backend { store, _dir: None })
}

/// Declares `name_sqlite` and `name_postgres` tests running `conformance::name(store)`.
#[macro_export]
macro_rules! on_both {
    ($($name:ident),+ $(,)?) => {
        mod sqlite_backend { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let b = $crate::sqlite().await;
                $crate::conformance::$name(&b.store).await;
            }
        )+ }
        mod postgres_backend { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                if let Some(b) = $crate::postgres().await {
                    $crate::conformance::$name(&b.store).await;
                }
            }
        )+ }
    };
}

on_both!(
    migrations_are_idempotent,
    tenants,
    users_sessions_and_tokens,
    agents_and_sip_credentials,
    catalog,
    customers_and_identifiers,
    customer_search,
    merge_keeps_both_histories,
    interactions_and_timeline,
    timeline_is_append_only,
    tenant_isolation,
    demo_seed,
    bulk_import,
    concurrent_appends_commit_in_groups,
    routing_journal,
    sip_registrations,
    dial_plan,
    dial_plan_per_tenant,
    flows_calendars_and_lookups,
    scheduled_callbacks,
    email_messages,
    web_sites_chats_and_forms,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_sqlite_to_postgres_and_back() {
    let Some(pg) = postgres().await else { return };
    let source = sqlite().await;
    source
        .store
        .seed_demo("demo-password-1")
        .await
        .expect("seed");
    let report = source
        .store
        .copy_to(&pg.store)
        .await
        .expect("copy to postgres");
    assert!(
        report.iter().any(|(t, n)| *t == "customers" && *n == 50),
        "{report:?}"
    );
    let back = sqlite().await;
    pg.store.copy_to(&back.store).await.expect("copy back");
    for b in [&pg.store, &back.store] {
        conformance::same_contents(&source.store, b).await;
    }
    // The copy is a working installation: ids continue after the copied ones.
    let t = pg.store.get_tenant_by_slug("demo").await.unwrap();
    let c = pg
        .store
        .create_customer(
            t.id,
            &hotline_store::NewCustomer {
                name: "После переезда".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    assert!(c.id > 50);
    assert!(pg
        .store
        .check_password("agent1", "demo-password-1")
        .await
        .unwrap()
        .is_some());
    // A second copy into a non-empty database is refused.
    assert!(source.store.copy_to(&pg.store).await.is_err());
}
