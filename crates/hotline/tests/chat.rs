//! Web chat end to end, in a real browser: `hotline serve --demo`, a company's page with the
//! widget's one script tag (served by `web/tests/chat.mjs` on another origin) and the agent's
//! workplace, both in Debian's chromium driven by playwright-core. The visitor opens a chat and
//! is told their place in the queue; the agent comes back from a break, takes it, answers with a
//! canned response; typing shows, a file goes across; Hotline is killed (SIGKILL) mid-chat and
//! restarted, a message the visitor wrote meanwhile arrives once, the agent's answer reaches the
//! widget; both see the same transcript; each message is stored once; the visitor ends the
//! chat and the agent finishes it. Screenshots in `target/screenshots` (or `HOTLINE_SCREENSHOTS`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{have, playwright, repo, script_exit, tail, Demo, Running, PASSWORD};

const REQUIRE_BROWSER: &str = "HOTLINE_REQUIRE_BROWSER";

#[test]
fn a_visitor_chats_with_an_agent_and_a_restart_loses_nothing() {
    if !have("chromium", REQUIRE_BROWSER)
        || !have("node", REQUIRE_BROWSER)
        || !playwright(REQUIRE_BROWSER)
    {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut demo = Demo::start(&data);
    let shots = std::env::var("HOTLINE_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| repo().join("target/screenshots"));
    let mut browser = Running(Some(
        Command::new("node")
            .arg(repo().join("web/tests/chat.mjs"))
            .env("HOTLINE_URL", format!("http://127.0.0.1:{}", demo.http))
            .env("HOTLINE_PASSWORD", PASSWORD)
            .env("HOTLINE_SCREENSHOTS", &shots)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap(),
    ));
    let mut to_node = browser.0.as_mut().unwrap().stdin.take().unwrap();
    let (lines_tx, lines) = mpsc::channel();
    let out = browser.0.as_mut().unwrap().stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(300);
    let mut transcript = Vec::new();
    let mut restarted = false;
    let result = loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                eprintln!("browser: {line}");
                transcript.push(line.clone());
                if line == "KILL" {
                    // Down for a few seconds: the widget keeps what the visitor writes.
                    demo.kill_and_restart_after(&data, Duration::from_secs(3));
                    restarted = true;
                    writeln!(to_node, "UP").unwrap();
                } else if let Some(r) = line.strip_prefix("RESULT ") {
                    break serde_json::from_str::<serde_json::Value>(r).unwrap();
                }
            }
            Err(_) => panic!(
                "the browser test did not finish:\n{}\nHotline's log:\n{}",
                transcript.join("\n"),
                tail(&demo.log_text())
            ),
        }
    };
    drop(to_node);
    let status = script_exit(browser.0.take().unwrap());
    assert!(
        status.success(),
        "{}\nHotline's log:\n{}",
        transcript.join("\n"),
        tail(&demo.log_text())
    );
    assert!(restarted, "Hotline was restarted mid-chat");
    assert_eq!(result["ok"], true, "{result}");
    for name in [
        "chat-widget-queue-ru",
        "desk-chat-ru",
        "chat-widget-offline-ru",
    ] {
        assert!(
            shots.join(format!("{name}.png")).exists(),
            "screenshot {name} in {}",
            shots.display()
        );
    }
    let logs = demo.stop();
    for private in ["petr.visitor@example.ru", "где моя карта", "Связь пропала"]
    {
        assert!(!logs.contains(private), "{private:?} never reaches the log");
    }
}
