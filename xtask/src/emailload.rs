//! `cargo xtask email-load`: a backlog of e-mail ingested, none lost, none duplicated.
//!
//! Real postfix and dovecot (`hotline_testkit::mail`, needs root) on loopback ports; `--mails`
//! mails from `--senders` customers are submitted over SMTP and delivered into the support
//! mailbox while no Hotline reads it. Then the release binary (`hotline serve --demo`,
//! SQLite) is given the mailbox and starts reading the backlog; when about half is stored it
//! is killed with SIGKILL (no clean shutdown) and started again on the same data. The run
//! ends when the mailbox's INBOX is empty, and checks: as many e-mail interactions as mails,
//! every Message-ID stored once (each mail opens its own request), everything moved to the
//! done folder. Reported: submission and delivery rate, ingest rate before and after the kill.
//!
//! Build first: `cargo build --release -p hotline`.

use std::path::Path;
use std::process::{Command, Stdio};

use crate::loadrun::{api, free_port, Killed};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::json;

pub(crate) const PASSWORD: &str = "load-run-password";

/// `hotline serve --demo` (release) on `http` and `sip`, RTP on `rtp` (`LO-HI`), with `data`,
/// optionally a config file; the administrator's token once it answers.
pub(crate) fn start(
    binary: &Path,
    data: &Path,
    (http, sip, rtp): (u16, u16, &str),
    config: Option<&Path>,
) -> Result<(Killed, String)> {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(data.join("hotline.log"))?;
    let child = Command::new(binary)
        .args(["serve", "--demo", "--http", &format!("127.0.0.1:{http}")])
        .args(["--sip", &format!("127.0.0.1:{sip}"), "--rtp-ports", rtp])
        .arg("--data-dir")
        .arg(data)
        .args(
            config
                .map(|c| vec![std::ffi::OsStr::new("--config"), c.as_os_str()])
                .unwrap_or_default(),
        )
        .env("HOTLINE_ADMIN_PASSWORD", PASSWORD)
        .env("HOTLINE_LOG", "warn")
        .stdout(log.try_clone()?)
        .stderr(log)
        .stdin(Stdio::null())
        .spawn()?;
    let child = Killed(child);
    let deadline = Instant::now() + Duration::from_secs(60);
    while api(http, "GET", "/healthz", None, None).is_err() {
        if Instant::now() > deadline {
            bail!(
                "hotline did not start; see {}",
                data.join("hotline.log").display()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let login = api(
        http,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"username": "admin", "password": PASSWORD})),
    )?;
    Ok((child, login["token"].as_str().context("token")?.to_string()))
}

/// E-mail interactions in the load's queue (the demo data has e-mail interactions of its own).
fn stored(http: u16, token: &str, queue: i64) -> Result<u64> {
    let page = api(
        http,
        "GET",
        &format!("/api/v1/interactions?channel=email&queue_id={queue}&limit=1"),
        Some(token),
        None,
    )?;
    page["total"].as_u64().context("total")
}

fn count_files(dir: &Path) -> usize {
    ["new", "cur"]
        .iter()
        .map(|d| {
            std::fs::read_dir(dir.join(d))
                .map(|r| r.count())
                .unwrap_or(0)
        })
        .sum()
}

pub async fn run(args: &[String]) -> Result<()> {
    let (mut mails, mut senders) = (10_000usize, 500usize);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let v: usize = it
            .next()
            .with_context(|| format!("{a} needs a number"))?
            .parse()?;
        match a.as_str() {
            "--mails" => mails = v,
            "--senders" => senders = v.max(1),
            other => bail!("unknown option {other}"),
        }
    }
    let root = crate::workspace_root();
    let binary = root.join("target/release/hotline");
    if !binary.exists() {
        bail!("build the binary first: cargo build --release -p hotline");
    }
    let dir = tempfile::tempdir()?;
    let mx = hotline_testkit::mail::MailServers::start(&dir.path().join("mx"), &["support"])
        .map_err(anyhow::Error::msg)?;
    let domain = hotline_testkit::mail::DOMAIN;
    let support = format!("support@{domain}");
    let inbox = mx.dir.join(format!("mail/{support}/Maildir"));

    // The backlog: submitted and delivered before anyone reads the mailbox.
    let t0 = Instant::now();
    for i in 0..mails {
        let from = format!("client{}@load.test", i % senders);
        let body = format!(
            "From: Клиент {n} <{from}>\r\nTo: {support}\r\nSubject: Обращение {i}\r\nMessage-ID: <load-{i}@load.test>\r\n\
MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nТекст обращения номер {i}.\r\n",
            n = i % senders
        );
        hotline_testkit::mail::smtp_send(mx.smtp_port, &from, &[&support], body.as_bytes())
            .map_err(|e| anyhow::anyhow!("submission {i}: {e}"))?;
    }
    let submitted = t0.elapsed();
    let deadline = Instant::now() + Duration::from_secs(1800);
    while count_files(&inbox) < mails {
        if Instant::now() > deadline {
            bail!("only {} of {mails} delivered", count_files(&inbox));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let delivered = t0.elapsed();
    println!(
        "backlog: {mails} mails from {senders} senders submitted in {:.1} s, in the mailbox after {:.1} s",
        submitted.as_secs_f64(),
        delivered.as_secs_f64()
    );

    // Hotline reads it; killed halfway, started again.
    let data = dir.path().join("hotline");
    std::fs::create_dir_all(&data)?;
    let http = free_port()?;
    let (first, admin) = start(&binary, &data, (http, free_port()?, "30000-30099"), None)?;
    let a = Some(admin.as_str());
    let queue = api(
        http,
        "POST",
        "/api/v1/queues",
        a,
        Some(json!({"name": "Mail load", "channels": ["email"], "wrap_up_seconds": 0})),
    )?;
    let queue_id = queue["id"].as_i64().context("queue id")?;
    let t1 = Instant::now();
    api(
        http,
        "POST",
        "/api/v1/email-accounts",
        a,
        Some(json!({
            "queue_id": queue["id"], "address": support, "imap_host": "127.0.0.1", "imap_port": mx.imap_port,
            "imap_user": support, "imap_password": hotline_testkit::mail::PASSWORD,
            "smtp_host": "127.0.0.1", "smtp_port": mx.smtp_port, "auto_ack": false,
            "imap_security": "starttls", "smtp_security": "starttls", "tls_ca_pem": mx.ca_pem,
        })),
    )?;
    let deadline = Instant::now() + Duration::from_secs(3600);
    let mut before_kill = 0;
    while before_kill < (mails as u64) / 2 {
        if Instant::now() > deadline {
            bail!("only {before_kill} stored");
        }
        std::thread::sleep(Duration::from_millis(200));
        before_kill = stored(http, &admin, queue_id)?;
    }
    let first_rate = before_kill as f64 / t1.elapsed().as_secs_f64();
    drop(first); // SIGKILL
    let (_second, admin) = start(&binary, &data, (http, free_port()?, "30000-30099"), None)?;
    let t2 = Instant::now();
    let at_restart = stored(http, &admin, queue_id)?;
    while count_files(&inbox) > 0 {
        if Instant::now() > deadline {
            bail!("{} mails still in the INBOX", count_files(&inbox));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    // The last mail moved was stored before it moved; give the count a moment to settle.
    std::thread::sleep(Duration::from_secs(2));
    let total = stored(http, &admin, queue_id)?;
    let second_rate = (total - at_restart) as f64 / t2.elapsed().as_secs_f64();
    let done = count_files(&inbox.join(".Hotline"));
    println!(
        "ingest: {before_kill} stored in {:.1} s ({first_rate:.0} mails/s), SIGKILL, restart, {} more at {second_rate:.0} mails/s",
        t1.elapsed().as_secs_f64() - t2.elapsed().as_secs_f64(),
        total - at_restart
    );
    println!("result: {total} e-mail interactions for {mails} mails; INBOX empty; {done} in the done folder");
    if total != mails as u64 {
        bail!(
            "{total} interactions for {mails} mails: {}",
            if total > mails as u64 {
                "duplicated"
            } else {
                "lost"
            }
        );
    }
    if done != mails {
        bail!("{done} mails in the done folder, expected {mails}");
    }
    // Every mail once: each Message-ID is a request of its own, so the customers' requests add up.
    let mut seen = 0u64;
    let page = api(
        http,
        "GET",
        "/api/v1/interactions?channel=email&limit=200",
        Some(&admin),
        None,
    )?;
    for i in page["items"].as_array().into_iter().flatten() {
        let id = i["id"].as_i64().context("id")?;
        let m = api(
            http,
            "GET",
            &format!("/api/v1/interactions/{id}/messages"),
            Some(&admin),
            None,
        )?;
        if m.as_array().map(Vec::len) != Some(1) {
            bail!("interaction {id} holds {m}");
        }
        seen += 1;
    }
    println!(
        "none lost, none duplicated (and a sample of {seen} interactions holds one mail each)"
    );
    Ok(())
}
