//! SIPVicious (PyPI `sipvicious`, the scanner behind most SIP brute force) against Hotline:
//! `svwar` cannot tell existing extensions from missing ones, `svcrack` is banned before it
//! guesses a password. With the scanner fingerprint dropped (the default) neither gets an
//! answer at all; the tests also turn that off to show the defences behind it.

use std::time::Duration;

use tokio::process::Command;

use crate::{world, PASSWORD};

/// The venv the test command makes (`scripts/test.sh`), or `None` to skip.
fn sipvicious(tool: &str) -> Option<std::path::PathBuf> {
    let venv = std::env::var_os("HOTLINE_SIPVICIOUS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| "/opt/sipvicious-venv".into());
    let bin = venv.join("bin").join(tool);
    if !bin.is_file() {
        assert!(
            std::env::var_os("HOTLINE_REQUIRE_SIP_PEERS").is_none(),
            "{} is required (HOTLINE_REQUIRE_SIP_PEERS is set) but not installed",
            bin.display()
        );
        eprintln!(
            "skipping: {} is not installed (scripts/test.sh installs it)",
            bin.display()
        );
        return None;
    }
    Some(bin)
}

async fn run(bin: &std::path::Path, args: &[&str]) -> String {
    let out = tokio::time::timeout(
        Duration::from_secs(90),
        Command::new(bin)
            .args(args)
            .current_dir(std::env::temp_dir())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("sipvicious ends")
    .expect("sipvicious runs");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svwar_cannot_tell_existing_extensions_from_missing_ones() {
    let Some(svwar) = sipvicious("sipvicious_svwar") else {
        return;
    };
    for drop_scanners in [false, true] {
        let w = world(|c| c.drop_scanners = drop_scanners).await;
        let target = w.addr().to_string();
        // 1001 and 1002 exist; 1000 and 1003–1010 do not.
        let out = run(
            &svwar,
            &[
                "-e1000-1010",
                "-m",
                "REGISTER",
                "-t",
                "0.05",
                "--force",
                &target,
            ],
        )
        .await;
        assert!(out.contains("found nothing"), "{out}");
        for ext in ["1001", "1002"] {
            assert!(
                !out.lines()
                    .any(|l| l.contains(ext) && !l.contains("-e1000")),
                "svwar singled out {ext} (drop_scanners={drop_scanners}):\n{out}"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn svcrack_is_banned_before_it_finds_the_password() {
    let Some(svcrack) = sipvicious("sipvicious_svcrack") else {
        return;
    };
    let dir = tempfile::tempdir().expect("dir");
    let dictionary = dir.path().join("words.txt");
    // Thirty wrong guesses, then the right one: the ban (10 failures) comes first.
    let mut words: Vec<String> = (0..30).map(|i| format!("guess{i}")).collect();
    words.push(PASSWORD.to_string());
    std::fs::write(&dictionary, words.join("\n")).expect("dictionary");
    for drop_scanners in [false, true] {
        let w = world(|c| c.drop_scanners = drop_scanners).await;
        let target = w.addr().to_string();
        let out = run(
            &svcrack,
            &[
                "-u",
                "1001",
                "-d",
                &dictionary.display().to_string(),
                "-t",
                "0.05",
                &target,
            ],
        )
        .await;
        assert!(out.contains("found nothing"), "{out}");
        if !drop_scanners {
            // It was answered (401s) until the ban, then never again.
            assert!(
                out.contains("since we last received a response"),
                "svcrack was not cut off:\n{out}"
            );
        }
        assert!(
            !out.contains(PASSWORD),
            "svcrack found the password (drop_scanners={drop_scanners}):\n{out}"
        );
        assert!(
            w.try_wait_registered("1001", 1).await.is_none(),
            "nothing registered"
        );
    }
}
