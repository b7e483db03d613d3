//! The binary as an operator meets it: flags, environment, config errors, busy ports,
//! unreachable databases, a demo start with graceful shutdown, user and store commands.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn hotline() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hotline"));
    for (k, _) in std::env::vars() {
        if k.starts_with("HOTLINE_") {
            c.env_remove(k);
        }
    }
    // Tests run servers side by side: each takes a free SIP port, not 5060.
    c.env("HOTLINE_SIP", "127.0.0.1:0");
    c.stdin(Stdio::null());
    c
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run hotline")
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `hotline serve` on 127.0.0.1:`port` with its data in `data`, output captured.
fn serve(port: u16, data: &Path, extra: &[&str]) -> Child {
    hotline()
        .args([
            "serve",
            "--http",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn wait_healthy(child: &mut Child, port: u16) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if let Some(r) = http_get(port, "/healthz") {
            if r.starts_with("HTTP/1.1 200") {
                return;
            }
        }
        assert!(child.try_wait().unwrap().is_none(), "hotline exited early");
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("hotline did not become healthy");
}

fn terminate(mut child: Child) -> Output {
    let pid = child.id().to_string();
    Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "no shutdown within 30 s");
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn bad_flags_and_values_are_explained() {
    let o = run(hotline().args(["serve", "--no-such-flag"]));
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("--no-such-flag"), "{}", text(&o));
    let o = run(hotline().args(["serve", "--rtp-ports", "20000-10000"]));
    assert!(!o.status.success());
    assert!(text(&o).contains("LO < HI"), "{}", text(&o));
    let o = run(hotline()
        .args(["serve", "--http", "localhost"])
        .env("HOTLINE_DATA_DIR", tempfile::tempdir().unwrap().path()));
    assert!(text(&o).contains("HOST:PORT"), "{}", text(&o));
}

#[test]
fn config_errors_name_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("hotline.toml");
    std::fs::write(&cfg, "http = \"127.0.0.1:1\"\nrtp_ports = 5\n").unwrap();
    let o = run(hotline().args(["serve", "--config"]).arg(&cfg));
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("hotline.toml, line 2"), "{t}");
    // media_io_uring is a known key, and a boolean.
    std::fs::write(&cfg, "media_io_uring = \"yes\"\n").unwrap();
    let o = run(hotline().args(["serve", "--config"]).arg(&cfg));
    let t = text(&o);
    assert!(!o.status.success());
    assert!(
        t.contains("hotline.toml, line 1") && t.contains("bool") && !t.contains("unknown field"),
        "{t}"
    );
    // A CA file for flows' https lookups that holds no certificate stops the start, named.
    let ca = dir.path().join("company-ca.pem");
    std::fs::write(&ca, "not a certificate\n").unwrap();
    std::fs::write(
        &cfg,
        format!("lookup_ca_file = {:?}\n", ca.display().to_string()),
    )
    .unwrap();
    let o = run(hotline()
        .args(["serve", "--config"])
        .arg(&cfg)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(["--http", &format!("127.0.0.1:{}", free_port())])
        .args(["--sip", &format!("127.0.0.1:{}", free_port())]));
    assert!(!o.status.success());
    let t = text(&o);
    assert!(
        t.contains("lookup_ca_file")
            && t.contains("company-ca.pem")
            && t.contains("no certificate"),
        "{t}"
    );
}

#[test]
fn a_busy_port_and_an_unreachable_database_are_reported_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let o = run(hotline()
        .args(["serve", "--http", &addr, "--data-dir"])
        .arg(dir.path()));
    assert!(!o.status.success());
    assert!(text(&o).contains("address is in use"), "{}", text(&o));

    let busy_sip = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sip = busy_sip.local_addr().unwrap().to_string();
    let http = format!("127.0.0.1:{}", free_port());
    let o = run(hotline()
        .args(["serve", "--http", &http, "--sip", &sip, "--data-dir"])
        .arg(dir.path()));
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("for SIP: the address is in use"), "{t}");

    let dead = free_port();
    let url = format!("postgres://hotline:secret@127.0.0.1:{dead}/hotline");
    let o = run(hotline().args(["migrate", "--database-url", &url]));
    assert!(!o.status.success());
    let t = text(&o);
    assert!(t.contains("cannot reach the database"), "{t}");
    assert!(!t.contains("secret"), "the password is never printed: {t}");
}

#[test]
fn demo_start_serves_and_shuts_down_gracefully() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = hotline()
        .arg("serve")
        .env("HOTLINE_HTTP", format!("127.0.0.1:{port}"))
        .env("HOTLINE_DATA_DIR", dir.path())
        .env("HOTLINE_DEMO", "true")
        .env("HOTLINE_ADMIN_PASSWORD", "cli-test-password")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_healthy(&mut child, port);
    let doc = http_get(port, "/api/v1/openapi.json").unwrap();
    assert!(doc.contains("\"openapi\""));
    let metrics = http_get(port, "/metrics").unwrap();
    assert!(metrics.contains("hotline_http_requests_total"));
    let o = terminate(child);
    assert!(
        o.status.success(),
        "SIGTERM ends with success: {}",
        text(&o)
    );
    let t = text(&o);
    assert!(
        t.contains(&format!("http://127.0.0.1:{port}/api/v1")),
        "{t}"
    );
    assert!(
        t.contains("admin (admin)") && t.contains("agent3 (agent)"),
        "{t}"
    );
    assert!(
        !t.contains("cli-test-password"),
        "a password from the environment is not echoed"
    );
    assert!(t.contains("stopped"), "{t}");
    assert!(dir.path().join("hotline.db").exists());

    // A second start without HOTLINE_ADMIN_PASSWORD keeps the passwords people already have.
    let mut again = serve(port, dir.path(), &["--demo"]);
    wait_healthy(&mut again, port);
    let login = http_post_json(
        port,
        "/api/v1/auth/login",
        r#"{"username":"agent2","password":"cli-test-password"}"#,
    )
    .unwrap();
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");
    let t = text(&terminate(again));
    assert!(t.contains("as printed at the first start"), "{t}");
}

fn http_post_json(port: u16, path: &str, body: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

#[test]
fn first_start_creates_an_admin_and_prints_a_random_password_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let start = || serve(port, dir.path(), &[]);
    let mut child = start();
    wait_healthy(&mut child, port);
    let t = text(&terminate(child));
    let line = t
        .lines()
        .find(|l| l.contains("First start"))
        .unwrap_or_else(|| panic!("{t}"));
    let password = line
        .split("password ")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    assert!(password.len() >= 12);
    let mut again = start();
    wait_healthy(&mut again, port);
    let t2 = text(&terminate(again));
    assert!(!t2.contains(password), "shown once only");
}

#[test]
fn user_add_and_store_copy() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("a");
    let o = run(hotline()
        .args([
            "tenant",
            "add",
            "--slug",
            "acme",
            "--name",
            "ACME",
            "--data-dir",
        ])
        .arg(&data));
    assert!(o.status.success(), "{}", text(&o));
    let o = run(hotline()
        .args([
            "user",
            "add",
            "--tenant",
            "acme",
            "--username",
            "olga",
            "--role",
            "supervisor",
            "--data-dir",
        ])
        .arg(&data));
    assert!(o.status.success(), "{}", text(&o));
    assert!(
        text(&o).contains("password: "),
        "a generated password is printed"
    );
    let o = run(hotline()
        .args([
            "user",
            "add",
            "--tenant",
            "nope",
            "--username",
            "x",
            "--data-dir",
        ])
        .arg(&data));
    assert!(
        !o.status.success() && text(&o).contains("no tenant"),
        "{}",
        text(&o)
    );
    let o = run(hotline()
        .args([
            "user",
            "add",
            "--tenant",
            "acme",
            "--username",
            "x",
            "--role",
            "boss",
            "--data-dir",
        ])
        .arg(&data));
    assert!(
        !o.status.success() && text(&o).contains("admin, supervisor, agent"),
        "{}",
        text(&o)
    );

    let from = format!("sqlite://{}", data.join("hotline.db").display());
    let to = format!("sqlite://{}", dir.path().join("b.db").display());
    let o = run(hotline().args(["store", "copy", "--from", &from, "--to", &to]));
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("users: 1 rows"), "{}", text(&o));
    let o = run(hotline().args(["tenant", "list", "--database-url", &to]));
    assert!(text(&o).contains("acme"), "{}", text(&o));
    if let Ok(pg) = std::env::var("HOTLINE_TEST_POSTGRES_URL") {
        // A fresh database on the test server, then SQLite → PostgreSQL.
        let name = format!("cli_copy_{}", std::process::id());
        let admin = Command::new("psql")
            .arg(&pg)
            .args(["-qc", &format!("CREATE DATABASE {name}")])
            .status()
            .unwrap();
        assert!(admin.success());
        let target = format!("{}/{name}", pg.rsplit_once('/').unwrap().0);
        let o = run(hotline().args(["store", "copy", "--from", &from, "--to", &target]));
        assert!(o.status.success(), "{}", text(&o));
        let o = run(hotline().args(["tenant", "list", "--database-url", &target]));
        assert!(text(&o).contains("acme"), "{}", text(&o));
        let o = run(hotline().args(["store", "copy", "--from", &from, "--to", &target]));
        assert!(
            !o.status.success() && text(&o).contains("empty"),
            "{}",
            text(&o)
        );
    }
    assert!(Path::new(&dir.path().join("b.db")).exists());
}
