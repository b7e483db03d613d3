//! Calls through the B2BUA between real SIPp peers: a carrier's call to a DID leaves through
//! another trunk; an agent's phone authenticates and dials out by an outbound route; a DID
//! rings a registered phone.

use std::net::SocketAddr;
use std::process::Stdio;
use std::time::Duration;

use hotline_store::dialplan::NewSipTrunk;
use tokio::process::{Child, Command};

use crate::{free_port, require, world, World, PASSWORD};

fn data(file: &str) -> String {
    format!("{}/tests/data/{file}", env!("CARGO_MANIFEST_DIR"))
}

fn sipp_command(args: &[&str]) -> Command {
    let mut cmd = Command::new("sipp");
    cmd.args(args)
        .args([
            "-nostdin",
            "-timeout",
            "30s",
            "-timeout_error",
            "-trace_err",
        ])
        .current_dir(std::env::temp_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// SIPp's built-in UAS on `ip:port`, for `calls` calls.
fn uas(ip: &str, port: u16, calls: usize) -> Child {
    sipp_command(&[
        "-sn",
        "uas",
        "-i",
        ip,
        "-p",
        &port.to_string(),
        "-m",
        &calls.to_string(),
    ])
    .spawn()
    .expect("sipp uas starts")
}

async fn finish(child: Child, what: &str) {
    let out = tokio::time::timeout(Duration::from_secs(40), child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{what} did not end"))
        .expect("sipp runs");
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn trunk(w: &World, name: &str, host: &str, port: u16) -> i64 {
    w.store
        .create_trunk(w.tenant, &NewSipTrunk::peer(name, host, port))
        .await
        .expect("trunk")
        .id
}

fn target(w: &World) -> SocketAddr {
    w.addr()
}

/// SIPp placing `calls` calls to `number` through Hotline from 127.0.0.1:`port`, with the
/// built-in `uac` or a scenario file, plus `extra` arguments.
fn caller(
    w: &World,
    scenario: Option<&str>,
    number: &str,
    port: u16,
    calls: usize,
    extra: &[&str],
) -> Command {
    let target = target(w).to_string();
    let (port, calls) = (port.to_string(), calls.to_string());
    let file = scenario.map(data);
    let mut args: Vec<&str> = match &file {
        Some(f) => vec!["-sf", f],
        None => vec!["-sn", "uac"],
    };
    args.extend([
        target.as_str(),
        "-s",
        number,
        "-i",
        "127.0.0.1",
        "-p",
        &port,
        "-m",
        &calls,
    ]);
    args.extend(extra);
    sipp_command(&args)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sipp_uac_through_hotline_to_sipp_uas() {
    if require("sipp").is_none() {
        return;
    }
    let w = world(|_| {}).await;
    let (uac_port, uas_port) = (free_port(), free_port());
    trunk(&w, "carrier-in", "127.0.0.1", uac_port).await;
    trunk(&w, "carrier-out", "127.0.0.2", uas_port).await;
    w.store
        .create_number(w.tenant, "5551000", "trunk", "carrier-out")
        .await
        .expect("DID");
    w.sip.reload_plan().await.expect("plan");
    let calls = 20;
    let server = uas("127.0.0.2", uas_port, calls);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = caller(&w, None, "5551000", uac_port, calls, &["-r", "20"])
        .spawn()
        .expect("sipp uac starts");
    finish(client, "sipp uac").await;
    finish(server, "sipp uas").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_call_to_a_number_nobody_owns_fails() {
    if require("sipp").is_none() {
        return;
    }
    let w = world(|_| {}).await;
    let uac_port = free_port();
    trunk(&w, "carrier-in", "127.0.0.1", uac_port).await;
    w.sip.reload_plan().await.expect("plan");
    // A trunk's call to a number nobody owns: 404, and SIPp's uac counts a failed call.
    let client = caller(&w, None, "5559999", uac_port, 1, &[])
        .output()
        .await
        .expect("sipp runs");
    assert!(
        !client.status.success(),
        "a call to an unknown DID must fail"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_authenticates_and_dials_out_through_a_route() {
    if require("sipp").is_none() {
        return;
    }
    let w = world(|_| {}).await;
    let uas_port = free_port();
    let carrier = trunk(&w, "carrier", "127.0.0.2", uas_port).await;
    w.store
        .create_route(w.tenant, "8", carrier, 1, "+7")
        .await
        .expect("route");
    w.sip.reload_plan().await.expect("plan");
    let server = uas("127.0.0.2", uas_port, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // SIPp digests `sip:host:port` unless told the Request-URI; Hotline checks the digest's
    // uri against the request's (RFC 2617 §3.2.2.5).
    let auth_uri = format!("84951234567@{}", target(&w));
    let phone = caller(
        &w,
        Some("uac_auth.xml"),
        "84951234567",
        free_port(),
        1,
        &["-auth_uri", &auth_uri, "-au", "1001", "-ap", PASSWORD],
    )
    .spawn()
    .expect("sipp phone starts");
    finish(phone, "sipp phone").await;
    finish(server, "sipp uas").await;

    // A wrong password is challenged again and the call never leaves.
    let phone = caller(
        &w,
        Some("uac_auth.xml"),
        "84951234567",
        free_port(),
        1,
        &["-auth_uri", &auth_uri, "-au", "1001", "-ap", "wrong"],
    )
    .output()
    .await
    .expect("sipp runs");
    assert!(!phone.status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_did_rings_the_registered_phone_of_an_extension() {
    if require("sipp").is_none() {
        return;
    }
    let w = world(|_| {}).await;
    let (uac_port, phone_port) = (free_port(), free_port());
    trunk(&w, "carrier-in", "127.0.0.1", uac_port).await;
    w.store
        .create_number(w.tenant, "5551001", "extension", "1001")
        .await
        .expect("DID");
    w.sip.reload_plan().await.expect("plan");
    // The phone registers from 127.0.0.3:phone_port, then answers calls on that port.
    let reg = sipp_command(&[
        "-sf",
        &data("register.xml"),
        &target(&w).to_string(),
        "-s",
        "1001",
        "-au",
        "1001",
        "-ap",
        PASSWORD,
        "-i",
        "127.0.0.3",
        "-p",
        &phone_port.to_string(),
        "-m",
        "1",
    ])
    .spawn()
    .expect("sipp register");
    finish(reg, "sipp register").await;
    w.wait_registered("1001", 1).await;
    let phone = uas("127.0.0.3", phone_port, 3);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = caller(&w, None, "5551001", uac_port, 3, &[])
        .spawn()
        .expect("sipp uac");
    finish(client, "sipp uac").await;
    finish(phone, "sipp phone (uas)").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trunk_registers_with_its_carrier_using_digest() {
    // The carrier is another Hotline: its agent 1001 is the account our trunk registers as.
    let carrier = world(|_| {}).await;
    let ours = world(|_| {}).await;
    let add = |name: &str, password: &str| NewSipTrunk {
        username: Some("1001".into()),
        password: Some(password.into()),
        register: true,
        ..NewSipTrunk::peer(name, "127.0.0.1", carrier.addr().port())
    };
    ours.store
        .create_trunk(ours.tenant, &add("carrier", PASSWORD))
        .await
        .expect("trunk");
    ours.sip.reload_plan().await.expect("plan");
    let bindings = carrier.wait_registered("1001", 1).await;
    assert_eq!(
        bindings[0].source,
        format!("udp:{}", ours.addr()),
        "registered from our SIP port"
    );
    assert!(bindings[0].contact.starts_with("sip:1001@127.0.0.1:"));

    // Wrong credentials: refused, nothing registered for 1002.
    let other = world(|_| {}).await;
    let mut wrong = add("wrong", "not-the-password");
    wrong.username = Some("1002".into());
    other
        .store
        .create_trunk(other.tenant, &wrong)
        .await
        .expect("trunk");
    other.sip.reload_plan().await.expect("plan");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    assert!(carrier
        .store
        .registrations_of(carrier.tenant, "1002", now)
        .await
        .expect("store")
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tcp_trunk_is_dialled_and_its_answers_come_back_on_the_connection() {
    if require("sipp").is_none() {
        return;
    }
    let w = world(|_| {}).await;
    let uac_port = free_port();
    let uas_port = std::net::TcpListener::bind("127.0.0.2:0")
        .and_then(|l| l.local_addr())
        .expect("free TCP port")
        .port();
    trunk(&w, "carrier-in", "127.0.0.1", uac_port).await;
    let out = NewSipTrunk {
        transport: "tcp".into(),
        ..NewSipTrunk::peer("carrier-tcp", "127.0.0.2", uas_port)
    };
    w.store.create_trunk(w.tenant, &out).await.expect("trunk");
    w.store
        .create_number(w.tenant, "5552000", "trunk", "carrier-tcp")
        .await
        .expect("DID");
    w.sip.reload_plan().await.expect("plan");
    let server = sipp_command(&[
        "-sn",
        "uas",
        "-t",
        "t1",
        "-i",
        "127.0.0.2",
        "-p",
        &uas_port.to_string(),
        "-m",
        "3",
    ])
    .spawn()
    .expect("sipp uas (TCP) starts");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let client = caller(&w, None, "5552000", uac_port, 3, &[])
        .spawn()
        .expect("sipp uac");
    finish(client, "sipp uac (UDP)").await;
    finish(server, "sipp uas (TCP)").await;
}
