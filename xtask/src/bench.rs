//! Storage benchmarks (figures go to docs/benchmarks.md with the command that made them):
//! - screen-pop look-up: a customer by phone number among N customers (default 1,000,000),
//!   as an agent's screen pop does it: normalise the number as typed, find, load the card;
//! - timeline appends per second, one event per transaction and in batches.
//!
//! Both run on SQLite (a file in a temporary folder) and, with `--postgres URL`, on PostgreSQL;
//! `--postgres` may be given more than once (over TCP and over the server's Unix socket,
//! `postgres://postgres@localhost/db?host=/socket/dir&port=N`, to compare the two), and
//! `--no-sqlite` leaves SQLite out.

use anyhow::{Context, Result};
use hotline_model::{Channel, Direction, Identifier, IdentifierKind, InteractionState};
use hotline_store::{ConnectOptions, NewCustomer, NewEvent, NewInteraction, NewTenant, Store};
use serde_json::json;
use std::time::{Duration, Instant};

struct Options {
    customers: u64,
    lookups: usize,
    events: usize,
    postgres: Vec<String>,
    sqlite: bool,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        customers: 1_000_000,
        lookups: 20_000,
        events: 100_000,
        postgres: Vec::new(),
        sqlite: true,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .with_context(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--customers" => o.customers = value()?.parse()?,
            "--lookups" => o.lookups = value()?.parse()?,
            "--events" => o.events = value()?.parse()?,
            "--postgres" => o.postgres.push(value()?),
            "--no-sqlite" => o.sqlite = false,
            other => anyhow::bail!("unknown option {other}"),
        }
    }
    Ok(o)
}

pub async fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let dir = std::env::temp_dir().join(format!("hotline-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sqlite = format!("sqlite://{}", dir.join("bench.db").display());
    println!(
        "# {} customers, {} look-ups, {} events",
        o.customers, o.lookups, o.events
    );
    if o.sqlite {
        bench_store("sqlite", &sqlite, &o).await?;
    }
    for pg in &o.postgres {
        let name = if pg.contains("host=/") || pg.contains("host=%2F") {
            "postgres (unix socket)"
        } else {
            "postgres (tcp)"
        };
        bench_store(name, pg, &o).await?;
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn phone_of(i: u64) -> String {
    // Moscow mobile numbers +7 9xx, all valid for libphonenumber.
    format!("+79{:09}", 100_000_000 + i * 7 % 800_000_000)
}

async fn bench_store(name: &str, url: &str, o: &Options) -> Result<()> {
    let store = Store::connect(url, &ConnectOptions::default()).await?;
    store.migrate().await?;
    // One tenant per run and server connection (two runs may share a database).
    let how: String = name.chars().filter(char::is_ascii_alphanumeric).collect();
    let slug = format!("bench{}-{how}", std::process::id());
    let tenant = store
        .create_tenant(&NewTenant {
            name: "Bench".into(),
            slug,
            default_region: "RU".into(),
            timezone: "Europe/Moscow".into(),
        })
        .await?;
    let t = tenant.id;

    let start = Instant::now();
    let chunk = 1000u64;
    let mut loaded = 0u64;
    while loaded < o.customers {
        let n = chunk.min(o.customers - loaded);
        let batch: Vec<(NewCustomer, Vec<Identifier>)> = (loaded..loaded + n)
            .map(|i| {
                let c = NewCustomer {
                    name: format!("Клиент {i}"),
                    ..Default::default()
                };
                (
                    c,
                    vec![Identifier {
                        kind: IdentifierKind::Phone,
                        value: phone_of(i),
                    }],
                )
            })
            .collect();
        store.bulk_insert_customers(t, &batch).await?;
        loaded += n;
    }
    let t_analyze = Instant::now();
    store.analyze().await?;
    if store.dialect() == hotline_store::Dialect::Postgres {
        // Write out the load's dirty pages now rather than during the measurements (needs a
        // superuser, which the throwaway test server has; elsewhere it is skipped).
        let _ = store.execute_unchecked("CHECKPOINT").await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    println!(
        "{name}: analyze after import: {:.1} s",
        t_analyze.elapsed().as_secs_f64()
    );
    println!(
        "{name}: loaded {} customers in {:.1} s",
        o.customers,
        start.elapsed().as_secs_f64()
    );

    // Warm-up: bring the indexes' upper levels into memory, as on a server that has been up
    // for a while; these are not measured.
    for i in (0..o.customers).step_by((o.customers / 5000).max(1) as usize) {
        let typed = format!("8{}", &phone_of(i)[2..]);
        store.lookup_customer(t, "RU", Some(&typed), None).await?;
    }

    // Screen-pop look-up: the number arrives in national notation, as carriers send it.
    let mut lat = Vec::with_capacity(o.lookups);
    let mut x = 12345u64;
    for _ in 0..o.lookups {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let i = (x >> 33) % o.customers;
        let typed = format!("8{}", &phone_of(i)[2..]);
        let t0 = Instant::now();
        let found = store.lookup_customer(t, "RU", Some(&typed), None).await?;
        lat.push(t0.elapsed());
        anyhow::ensure!(found.is_some(), "customer {i} not found by {typed}");
    }
    report(
        name,
        "lookup by phone (normalise + find + identifiers)",
        &mut lat,
    );

    // The two halves of that look-up, apart.
    let mut norm = Vec::with_capacity(o.lookups);
    let mut find = Vec::with_capacity(o.lookups);
    for _ in 0..o.lookups {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let i = (x >> 33) % o.customers;
        let typed = format!("8{}", &phone_of(i)[2..]);
        let t0 = Instant::now();
        let e164 = hotline_model::phone::normalize_phone(&typed, "RU")?;
        norm.push(t0.elapsed());
        let t0 = Instant::now();
        let found = store
            .find_by_identifier(t, IdentifierKind::Phone, &e164)
            .await?;
        find.push(t0.elapsed());
        anyhow::ensure!(found.is_some());
    }
    report(name, "normalise only", &mut norm);
    let mut ping = Vec::with_capacity(o.lookups);
    for _ in 0..o.lookups {
        let t0 = Instant::now();
        store.ping().await?;
        ping.push(t0.elapsed());
    }
    report(name, "driver floor: SELECT 1", &mut ping);
    report(name, "find by E.164 only", &mut find);

    // Timeline appends.
    let (interaction, _) = store
        .create_interaction(
            t,
            &NewInteraction {
                channel: Channel::Voice,
                direction: Direction::Inbound,
                state: InteractionState::Active,
                customer_id: None,
                queue_id: None,
                agent_id: None,
                subject: None,
                notes: String::new(),
                created_at: None,
            },
            "bench",
        )
        .await?;
    let event = |n: usize| NewEvent {
        kind: "media_stats".into(),
        actor: "bench".into(),
        data: json!({"n": n, "jitter_ms": 3}),
        at: None,
    };
    // append_event from 1, 8 and 64 concurrent tasks (calls, chats, media legs): each call
    // returns after its own commit; concurrent ones share commits through the group-commit writer.
    for writers in [1usize, 8, 64] {
        let per = (o.events.min(40_000) / writers).max(1);
        let t0 = Instant::now();
        let mut tasks = Vec::new();
        for w in 0..writers {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for n in 0..per {
                    let e = NewEvent {
                        kind: "media_stats".into(),
                        actor: "bench".into(),
                        data: json!({"n": n, "w": w}),
                        at: None,
                    };
                    store.append_event(t, interaction.id, &e).await?;
                }
                Ok::<_, hotline_store::StoreError>(())
            }));
        }
        for task in tasks {
            task.await??;
        }
        let secs = t0.elapsed().as_secs_f64();
        println!(
            "{name}: append_event, {writers} concurrent writers: {:.0} events/s ({} events)",
            (per * writers) as f64 / secs,
            per * writers
        );
    }

    let batch: Vec<(i64, NewEvent)> = (0..100).map(|n| (interaction.id, event(n))).collect();
    let rounds = o.events / 100;
    let t0 = Instant::now();
    for _ in 0..rounds {
        store.append_events(t, &batch).await?;
    }
    let secs = t0.elapsed().as_secs_f64();
    println!(
        "{name}: append_events, batches of 100: {:.0} events/s ({} events)",
        (rounds * 100) as f64 / secs,
        rounds * 100
    );
    store.close().await;
    Ok(())
}

fn report(name: &str, what: &str, lat: &mut [Duration]) {
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)];
    println!(
        "{name}: {what}: p50 {:.0} µs, p99 {:.0} µs, p99.9 {:.0} µs, max {:.0} µs ({} look-ups)",
        pct(0.50).as_secs_f64() * 1e6,
        pct(0.99).as_secs_f64() * 1e6,
        pct(0.999).as_secs_f64() * 1e6,
        lat[lat.len() - 1].as_secs_f64() * 1e6,
        lat.len()
    );
}
