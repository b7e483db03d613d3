//! SIPp and baresip register with digest authentication.

use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::{free_port, require, world, PASSWORD};

fn data(file: &str) -> String {
    format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"))
}

async fn sipp(
    target: std::net::SocketAddr,
    user: &str,
    password: &str,
    transport: &str,
) -> std::process::Output {
    let port = free_port();
    let mut cmd = Command::new("sipp");
    cmd.args([
        "-sf",
        &data("register.xml"),
        &target.to_string(),
        "-s",
        user,
        "-au",
        user,
        "-ap",
        password,
    ])
    .args([
        "-m",
        "1",
        "-i",
        "127.0.0.1",
        "-p",
        &port.to_string(),
        "-t",
        transport,
    ])
    .args([
        "-nostdin",
        "-timeout",
        "15s",
        "-timeout_error",
        "-trace_err",
    ])
    .current_dir(std::env::temp_dir())
    .stdin(Stdio::null())
    .kill_on_drop(true);
    tokio::time::timeout(Duration::from_secs(30), cmd.output())
        .await
        .expect("sipp ends")
        .expect("sipp runs")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_registers_with_digest_over_udp_and_tcp() {
    if require("sipp").is_none() {
        return;
    }
    let w = world(|_| {}).await;
    let out = sipp(w.addr(), "1001", PASSWORD, "u1").await;
    assert!(
        out.status.success(),
        "sipp over UDP failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let bindings = w.wait_registered("1001", 1).await;
    assert!(
        bindings[0].contact.starts_with("sip:1001@127.0.0.1:"),
        "{bindings:?}"
    );
    assert!(bindings[0].source.starts_with("udp:127.0.0.1:"));
    let out = sipp(w.sip.tcp_addr(), "1002", PASSWORD, "t1").await;
    assert!(
        out.status.success(),
        "sipp over TCP failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let bindings = w.wait_registered("1002", 1).await;
    assert!(
        bindings[0].source.starts_with("tcp:127.0.0.1:"),
        "{bindings:?}"
    );
    w.sip.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_with_a_wrong_password_is_refused() {
    if require("sipp").is_none() {
        return;
    }
    let w = world(|_| {}).await;
    let out = sipp(w.addr(), "1001", "wrong-password", "u1").await;
    assert!(!out.status.success(), "a wrong password must not register");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    assert!(w
        .store
        .registrations_of(w.tenant, "1001", now)
        .await
        .expect("store")
        .is_empty());
    w.sip.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_registers_and_stays_registered() {
    let Some(baresip) = require("baresip") else {
        return;
    };
    let w = world(|_| {}).await;
    let dir = tempfile::tempdir().expect("dir");
    let port = free_port();
    let modules = [
        "/usr/lib/baresip/modules",
        "/usr/lib/x86_64-linux-gnu/baresip/modules",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).join("account.so").exists())
    .expect("baresip modules folder");
    std::fs::write(
        dir.path().join("config"),
        format!(
            "module_path {modules}\nsip_listen 127.0.0.1:{port}\nnet_interface 127.0.0.1\naudio_player aufile,/dev/null\naudio_source aufile,/dev/null\nmodule g711.so\nmodule_app account.so\n"
        ),
    )
    .expect("config");
    std::fs::write(
        dir.path().join("accounts"),
        format!(
            "<sip:1001@127.0.0.1:{}>;auth_pass={PASSWORD};regint=60;answermode=auto\n",
            w.addr().port()
        ),
    )
    .expect("accounts");
    let mut child = Command::new(baresip)
        .args(["-f"])
        .arg(dir.path())
        .args(["-t", "20"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("baresip starts");
    let Some(bindings) = w.try_wait_registered("1001", 1).await else {
        let _ = child.start_kill();
        let out = child.wait_with_output().await.expect("baresip output");
        panic!(
            "baresip did not register:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    assert!(bindings[0].contact.contains("127.0.0.1"), "{bindings:?}");
    let _ = child.kill().await;
    w.sip.stop().await;
}
