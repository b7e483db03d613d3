//! `cargo xtask chat-load`: many visitors chatting with agents at once, message round trips.
//!
//! The release binary (`hotline serve --demo`, SQLite) gets a chat queue, a site and
//! `--agents` agents (chat capacity 3 each, the default). `--visitors` visitors open chats
//! at once through the public API and talk over the widget's WebSocket; agents are driven over
//! the API as the workplace drives it: the live-events WebSocket for offers and visitors'
//! messages, `accept`, a reply per message, `finish` and the end of wrap-up when the visitor
//! leaves. Each visitor sends `--messages` messages, each after the agent's answer to the one
//! before; a round trip is from the visitor's send to the agent's answer arriving at the
//! visitor's WebSocket (stored, told to the agent's live stream, answered over HTTP, stored,
//! told to the widget). Reported: round-trip percentiles, waits for an agent, messages
//! acknowledged, anything lost.
//!
//! Build first: `cargo build --release -p hotline`.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message as Ws;

use crate::emailload::{start, PASSWORD};
use crate::loadrun::{api, cpu_of, percentile};

struct Options {
    visitors: u32,
    agents: u32,
    messages: u32,
}

fn parse(args: &[String]) -> Result<Options> {
    let mut o = Options {
        visitors: 1000,
        agents: 100,
        messages: 5,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || -> Result<u32> {
            it.next()
                .context("a value is missing")?
                .parse()
                .context("not a number")
        };
        match a.as_str() {
            "--visitors" => o.visitors = value()?,
            "--agents" => o.agents = value()?,
            "--messages" => o.messages = value()?,
            other => bail!("unknown option {other}"),
        }
    }
    Ok(o)
}

/// A blocking API call off the runtime's threads.
async fn call(
    http: u16,
    method: &'static str,
    path: String,
    token: Option<String>,
    body: Option<Value>,
) -> Result<Value> {
    tokio::task::spawn_blocking(move || api(http, method, &path, token.as_deref(), body))
        .await
        .context("joined")?
}

#[derive(Default)]
struct Tally {
    acked: AtomicU64,
    answered: AtomicU64,
    failed_visitors: AtomicU64,
    agent_errors: AtomicU64,
}

/// One agent as the workplace drives it, until `stop`.
async fn agent(
    http: u16,
    token: String,
    agent_id: i64,
    tally: Arc<Tally>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Result<()> {
    let (mut ws, _) = tokio_tungstenite::connect_async(format!(
        "ws://127.0.0.1:{http}/api/v1/events?access_token={token}"
    ))
    .await?;
    call(
        http,
        "PUT",
        format!("/api/v1/agents/{agent_id}/presence"),
        Some(token.clone()),
        Some(json!({"presence": "available"})),
    )
    .await?;
    loop {
        let frame = tokio::select! {
            f = ws.next() => f,
            _ = stop.changed() => return Ok(()),
        };
        let Some(Ok(Ws::Text(text))) = frame else {
            if frame.is_none() {
                bail!("the agent's live stream closed");
            }
            continue;
        };
        let Ok(ev) = serde_json::from_str::<Value>(text.as_str()) else {
            continue;
        };
        let d = &ev["data"];
        let id = d["interaction_id"].as_i64().unwrap_or(0);
        let (token, tally) = (token.clone(), tally.clone());
        match ev["kind"].as_str().unwrap_or("") {
            "contact.offered" if d["channel"] == "chat" => {
                tokio::spawn(async move {
                    if call(
                        http,
                        "POST",
                        format!("/api/v1/interactions/{id}/accept"),
                        Some(token),
                        Some(json!({})),
                    )
                    .await
                    .is_err()
                    {
                        tally.agent_errors.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            "chat.message" => {
                let text = d["message"]["body_text"].as_str().unwrap_or("").to_string();
                tokio::spawn(async move {
                    let body = json!({"text": format!("re {text}")});
                    if call(
                        http,
                        "POST",
                        format!("/api/v1/interactions/{id}/messages"),
                        Some(token),
                        Some(body),
                    )
                    .await
                    .is_err()
                    {
                        tally.agent_errors.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            "chat.ended" => {
                tokio::spawn(async move {
                    let done = async {
                        call(
                            http,
                            "POST",
                            format!("/api/v1/interactions/{id}/finish"),
                            Some(token.clone()),
                            Some(json!({})),
                        )
                        .await?;
                        call(
                            http,
                            "POST",
                            format!("/api/v1/agents/{agent_id}/wrap-up"),
                            Some(token),
                            Some(json!({"interaction_id": id, "action": "done"})),
                        )
                        .await
                    };
                    if done.await.is_err() {
                        tally.agent_errors.fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
            _ => {}
        }
    }
}

/// Reads the widget's frames until `want` says yes (bounded).
async fn until<S>(
    ws: &mut S,
    within: Duration,
    mut want: impl FnMut(&Value) -> bool,
) -> Result<Value>
where
    S: futures_util::Stream<Item = Result<Ws, tokio_tungstenite::tungstenite::Error>> + Unpin,
{
    let end = tokio::time::Instant::now() + within;
    loop {
        let frame = tokio::time::timeout_at(end, ws.next())
            .await
            .context("timed out")?;
        let Some(Ok(Ws::Text(text))) = frame else {
            if frame.is_none() {
                bail!("the widget's connection closed");
            }
            continue;
        };
        let v: Value = serde_json::from_str(text.as_str())?;
        if v["type"] == "error" {
            bail!("refused: {v}");
        }
        if want(&v) {
            return Ok(v);
        }
    }
}

/// One visitor: opens a chat, waits for an agent, talks, leaves. Round trips in µs and the wait.
async fn visitor(
    http: u16,
    key: String,
    n: u32,
    messages: u32,
    tally: Arc<Tally>,
) -> Result<(Vec<u64>, u64)> {
    let opened = call(
        http,
        "POST",
        format!("/api/v1/public/sites/{key}/chats"),
        None,
        Some(json!({"name": format!("Посетитель {n}"), "text": format!("Здравствуйте, я {n}")})),
    )
    .await?;
    let token = opened["token"].as_str().context("token")?.to_string();
    let (mut ws, _) =
        tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{http}/api/v1/public/chat"))
            .await?;
    ws.send(Ws::Text(
        json!({"type": "hello", "token": token, "after": 0})
            .to_string()
            .into(),
    ))
    .await?;
    let asked = Instant::now();
    let welcome = until(&mut ws, Duration::from_secs(30), |v| v["type"] == "welcome").await?;
    if welcome["agent"].is_null() {
        until(&mut ws, Duration::from_secs(600), |v| v["type"] == "agent").await?;
    }
    let waited = asked.elapsed().as_millis() as u64;
    let mut trips = Vec::new();
    for i in 0..messages {
        let text = format!("вопрос {n}.{i}");
        let reply = format!("re {text}");
        let sent = Instant::now();
        ws.send(Ws::Text(
            json!({"type": "message", "client_id": format!("v{n}-{i}"), "text": text})
                .to_string()
                .into(),
        ))
        .await?;
        let mut acked = false;
        until(&mut ws, Duration::from_secs(60), |v| {
            if v["type"] == "ack" {
                acked = true;
            }
            v["type"] == "message"
                && v["message"]["from"] == "agent"
                && v["message"]["text"] == reply.as_str()
        })
        .await?;
        trips.push(sent.elapsed().as_micros() as u64);
        tally.answered.fetch_add(1, Ordering::Relaxed);
        if acked {
            tally.acked.fetch_add(1, Ordering::Relaxed);
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    ws.send(Ws::Text(json!({"type": "end"}).to_string().into()))
        .await?;
    until(&mut ws, Duration::from_secs(30), |v| v["type"] == "ended").await?;
    Ok((trips, waited))
}

pub async fn run(args: &[String]) -> Result<()> {
    let o = parse(args)?;
    let binary = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/hotline");
    if !binary.exists() {
        bail!("build the release binary first: cargo build --release -p hotline");
    }
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data)?;
    // Every visitor comes from 127.0.0.1: the per-address limit is raised for the run.
    let config = dir.path().join("hotline.toml");
    std::fs::write(&config, "public_requests_per_10_minutes = 1000000\n")?;
    let http = crate::loadrun::free_port()?;
    let (server, admin) = start(
        &binary,
        &data,
        (http, crate::loadrun::free_port()?, "30000-30099"),
        Some(&config),
    )?;
    let pid = server.0.id();
    let a = Some(admin.as_str());
    let queue = api(
        http,
        "POST",
        "/api/v1/queues",
        a,
        Some(json!({"name": "Чат (нагрузка)", "channels": ["chat"],
        "service_level_seconds": 60, "service_level_target": 80, "priority": 0, "wrap_up_seconds": 5,
        "disposition_required": false})),
    )?;
    let site = api(
        http,
        "POST",
        "/api/v1/sites",
        a,
        Some(json!({"name": "load", "origins": ["*"], "chat_queue_id": queue["id"]})),
    )?;
    let key = site["key"].as_str().context("key")?.to_string();
    let mut agents = Vec::new();
    for i in 0..o.agents {
        let user = api(
            http,
            "POST",
            "/api/v1/users",
            a,
            Some(json!({"username": format!("chat{i}"),
            "display_name": format!("Оператор {i}"), "role": "agent", "password": PASSWORD})),
        )?;
        let agent = api(
            http,
            "POST",
            "/api/v1/agents",
            a,
            Some(json!({"user_id": user["id"], "extension": format!("{}", 5000 + i)})),
        )?;
        let login = api(
            http,
            "POST",
            "/api/v1/auth/login",
            None,
            Some(json!({"username": format!("chat{i}"), "password": PASSWORD})),
        )?;
        agents.push((
            agent["id"].as_i64().context("id")?,
            login["token"].as_str().context("token")?.to_string(),
        ));
    }
    let tally = Arc::new(Tally::default());
    let (stop_tx, stop) = tokio::sync::watch::channel(false);
    let mut agent_tasks = Vec::new();
    for (id, token) in agents {
        agent_tasks.push(tokio::spawn(agent(
            http,
            token,
            id,
            tally.clone(),
            stop.clone(),
        )));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    eprintln!(
        "{} visitors, {} agents, {} messages each",
        o.visitors, o.agents, o.messages
    );
    let started = Instant::now();
    let cpu_before = cpu_of(pid);
    let mut visitors = Vec::new();
    for n in 0..o.visitors {
        visitors.push(tokio::spawn(visitor(
            http,
            key.clone(),
            n,
            o.messages,
            tally.clone(),
        )));
    }
    let mut trips = Vec::new();
    let mut waits = Vec::new();
    for v in visitors {
        match v.await {
            Ok(Ok((t, w))) => {
                trips.extend(t);
                waits.push(w);
            }
            Ok(Err(e)) => {
                tally.failed_visitors.fetch_add(1, Ordering::Relaxed);
                eprintln!("a visitor failed: {e:#}");
            }
            Err(e) => bail!("a visitor panicked: {e}"),
        }
    }
    let elapsed = started.elapsed();
    let server_cpu = cpu_of(pid) - cpu_before;
    let _ = stop_tx.send(true);
    for t in agent_tasks {
        if let Ok(Err(e)) = t.await {
            eprintln!("an agent failed: {e:#}");
        }
    }
    // What is stored: every message of the load's chats once.
    let page = api(
        http,
        "GET",
        &format!(
            "/api/v1/interactions?channel=chat&queue_id={}&limit=1",
            queue["id"]
        ),
        a,
        None,
    )?;
    trips.sort_unstable();
    waits.sort_unstable();
    let ms = |us: u64| us as f64 / 1000.0;
    println!(
        "`cargo xtask chat-load --visitors {} --agents {} --messages {}`",
        o.visitors, o.agents, o.messages
    );
    println!();
    println!("| figure | value |");
    println!("|---|---|");
    println!(
        "| visitors served / failed | {} / {} |",
        waits.len(),
        tally.failed_visitors.load(Ordering::Relaxed)
    );
    println!("| chats stored in the queue | {} |", page["total"]);
    println!(
        "| messages answered (acknowledged before the answer) | {} ({}) |",
        tally.answered.load(Ordering::Relaxed),
        tally.acked.load(Ordering::Relaxed)
    );
    println!(
        "| agent API errors | {} |",
        tally.agent_errors.load(Ordering::Relaxed)
    );
    println!(
        "| round trip p50 / p90 / p99 / max | {:.1} / {:.1} / {:.1} / {:.1} ms |",
        ms(percentile(&trips, 0.5)),
        ms(percentile(&trips, 0.9)),
        ms(percentile(&trips, 0.99)),
        ms(trips.last().copied().unwrap_or(0))
    );
    println!(
        "| wait for an agent p50 / p99 / max | {:.1} / {:.1} / {:.1} s |",
        percentile(&waits, 0.5) as f64 / 1000.0,
        percentile(&waits, 0.99) as f64 / 1000.0,
        waits.last().copied().unwrap_or(0) as f64 / 1000.0
    );
    println!("| whole run | {:.1} s |", elapsed.as_secs_f64());
    println!(
        "| Hotline's CPU over the run (of 2 cores × the run) | {server_cpu:.1} s ({:.0} %) |",
        100.0 * server_cpu / (2.0 * elapsed.as_secs_f64())
    );
    if tally.failed_visitors.load(Ordering::Relaxed) > 0 {
        bail!("some visitors were not served");
    }
    Ok(())
}
