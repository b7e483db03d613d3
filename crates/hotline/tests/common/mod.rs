//! What the binary's end-to-end tests share: `hotline serve --demo` on free 127.0.0.1 ports,
//! plain HTTP with JSON, the carrier's trunk set up by the administrator, clean shutdown.
#![allow(
    dead_code,
    reason = "each test binary uses its own part of this module"
)]

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub const PASSWORD: &str = "voice-test-password";

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Whether `binary` is installed; with `require` set to `1` (the test command sets it) a
/// missing one fails the test instead of skipping it.
pub fn have(binary: &str, require: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {binary}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found && std::env::var(require).is_ok_and(|v| v == "1") {
        panic!("{binary} is required ({require}=1) but not installed");
    }
    found
}

/// One HTTP/1.1 request with a JSON body; the status and the JSON answer.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string());
    let (status, text) =
        hotline_testkit::http::request(port, method, path, token, body.as_deref()).unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub fn login(port: u16, user: &str) -> String {
    let (status, body) = http(
        port,
        "POST",
        "/api/v1/auth/login",
        None,
        Some(json!({"username": user, "password": PASSWORD})),
    );
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().unwrap().to_string()
}

/// Hotline, killed if the test fails before stopping it.
pub struct Running(pub Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `hotline serve --demo` with HTTP, SIP and RTP on free loopback ports, every demo user's
/// password [`PASSWORD`]; answers once HTTP is up.
pub struct Demo {
    pub child: Running,
    pub http: u16,
    pub sip: u16,
    pub rtp: u16,
    /// Settings given at start (kept for a restart).
    env: Vec<(String, String)>,
    /// Everything Hotline prints goes here (a pipe nobody reads would fill and stop it).
    pub log: std::path::PathBuf,
}

impl Demo {
    pub fn start(data: &Path) -> Demo {
        Demo::start_with_env(data, &[])
    }

    /// The same with more `HOTLINE_*` settings.
    pub fn start_with_env(data: &Path, env: &[(&str, String)]) -> Demo {
        let (port, sip) = (free_port(), free_port());
        let rtp = (free_port() & !1).min(65000);
        let mut demo = Demo::start_on(data, port, sip, rtp, env);
        demo.env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        demo
    }

    /// Kills Hotline (SIGKILL: no goodbye) and, `down` later, starts it again on the same
    /// ports and data.
    pub fn kill_and_restart_after(&mut self, data: &Path, down: Duration) {
        if let Some(mut c) = self.child.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        std::thread::sleep(down);
        let env: Vec<(&str, String)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.clone()))
            .collect();
        let mut again = Demo::start_on(data, self.http, self.sip, self.rtp, &env);
        again.env = self.env.clone();
        *self = again;
    }

    fn start_on(data: &Path, port: u16, sip: u16, rtp: u16, env: &[(&str, String)]) -> Demo {
        std::fs::create_dir_all(data).unwrap();
        let log = data.join("hotline.log");
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_hotline"))
            .args(["serve", "--demo", "--http", &format!("127.0.0.1:{port}")])
            .args(["--sip", &format!("127.0.0.1:{sip}")])
            .args(["--rtp-ports", &format!("{rtp}-{}", rtp + 40)])
            .arg("--data-dir")
            .arg(data)
            .env("HOTLINE_ADMIN_PASSWORD", PASSWORD)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap();
        let child = Running(Some(child));
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "hotline did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        std::thread::sleep(Duration::from_millis(300));
        Demo {
            child,
            http: port,
            sip,
            rtp,
            log,
            env: Vec::new(),
        }
    }

    /// The administrator connects a carrier (SIPp will call from its port) and keeps the
    /// lines open round the clock. Answers the carrier's port.
    pub fn connect_carrier(&self) -> u16 {
        let admin = login(self.http, "admin");
        let carrier = free_port();
        let (status, body) = http(
            self.http,
            "POST",
            "/api/v1/sip/trunks",
            Some(&admin),
            Some(json!({"name": "carrier", "host": "127.0.0.1", "port": carrier})),
        );
        assert_eq!(status, 201, "{body}");
        let (status, body) = http(
            self.http,
            "PUT",
            "/api/v1/calendars",
            Some(&admin),
            Some(json!({"source": "calendars:\n  support:\n    hours: { daily: 24h }\n"})),
        );
        assert_eq!(status, 200, "{body}");
        carrier
    }

    /// Stops Hotline with SIGTERM (killed after 30 s); everything it printed.
    pub fn stop(mut self) -> String {
        let mut child = self.child.0.take().unwrap();
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        self.log_text()
    }

    pub fn log_text(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log).unwrap_or_default()).into_owned()
    }
}

/// A SIPp caller from the carrier's port to `number`, run in `run` (which holds
/// `caller.xml` and `keys.pcap`).
pub fn sipp_caller(run: &Path, sip: u16, carrier: u16, number: &str) -> Child {
    Command::new("sipp")
        .args([
            "-sf",
            "caller.xml",
            &format!("127.0.0.1:{sip}"),
            "-s",
            number,
        ])
        .args(["-i", "127.0.0.1", "-p", &carrier.to_string(), "-m", "1"])
        .args(["-mp", &((free_port() & !1).to_string())])
        .args(["-nostdin", "-timeout", "120s", "-timeout_error"])
        .current_dir(run)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub fn output_text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The repository's root.
pub fn repo() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// playwright-core as `web/tests/package.json` pins it (the test command installs it).
pub fn playwright(require: &str) -> bool {
    let found = repo()
        .join("web/tests/node_modules/playwright-core/package.json")
        .exists();
    if !found && std::env::var(require).is_ok_and(|v| v == "1") {
        panic!("playwright-core is required ({require}=1): npm ci in web/tests");
    }
    found
}

/// The last lines of a log, for a failure's message.
pub fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(120)..].join("\n")
}

/// Waits for a browser script (started by the test) to exit after its result; kills it after
/// 30 s. Its exit status.
pub fn script_exit(mut node: Child) -> std::process::ExitStatus {
    let until = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = node.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > until {
            let _ = node.kill();
            panic!("the browser script did not exit after its result");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
