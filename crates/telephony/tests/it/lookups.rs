//! Flows' lookups in company systems over HTTPS, against Python's own HTTPS server (OpenSSL)
//! with a certificate from a test CA: found, not found, a POST's body, a chunked answer, and a
//! server whose CA is not trusted.

use std::process::Stdio;
use std::time::Duration;

use hotline_flow::flow::HttpMethod;
use hotline_flow::run::LookupResult;
use hotline_telephony::http::request;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::require;

/// A company system: `/orders/42` is found, others not; POST echoes its JSON; `/chunked`
/// answers in chunks (HTTP/1.1).
const SERVER: &str = r#"
import http.server, json, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, body):
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def do_GET(self):
        if self.path == "/orders/42":
            self.reply(200, json.dumps({"order": 42, "status": "shipped"}).encode())
        elif self.path == "/chunked":
            self.protocol_version = "HTTP/1.1"
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            for part in (b'{"status":', b'"in transit"}'):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.reply(404, b"")
    def do_POST(self):
        got = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.reply(200, json.dumps({"got": got, "key": self.headers.get("X-Api-Key")}).encode())
    def log_message(self, *args):
        pass
server = http.server.HTTPServer(("127.0.0.1", 0), H)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[1], sys.argv[2])
server.socket = context.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
"#;

#[tokio::test]
async fn https_lookups_check_the_company_systems_certificate() {
    if require("python3").is_none() || require("openssl").is_none() {
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let ca = hotline_testkit::mail::certificates(dir.path()).expect("test CA");
    std::fs::write(dir.path().join("server.py"), SERVER).expect("script");
    let mut server = tokio::process::Command::new("python3")
        .arg(dir.path().join("server.py"))
        .arg(dir.path().join("server.pem"))
        .arg(dir.path().join("server.key"))
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 starts");
    let mut lines = BufReader::new(server.stdout.take().expect("stdout")).lines();
    let port: u16 = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .expect("the server says its port")
        .expect("read")
        .and_then(|l| l.trim().parse().ok())
        .expect("a port");
    // What a flow's lookups trust: made once, with and without the company's CA.
    let trusting = hotline_tls::client_config(&ca);
    let system_only = hotline_tls::client_config("");
    let get = |url: String, tls: Result<_, String>| async move {
        tokio::time::timeout(
            Duration::from_secs(10),
            request(HttpMethod::Get, &url, &[], None, &tls),
        )
        .await
        .expect("answered in time")
    };
    let base = format!("https://127.0.0.1:{port}");
    assert_eq!(
        get(format!("{base}/orders/42"), trusting.clone()).await,
        LookupResult::Found(json!({"order": 42, "status": "shipped"}))
    );
    assert_eq!(
        get(
            format!("https://localhost:{port}/orders/7"),
            trusting.clone()
        )
        .await,
        LookupResult::NotFound
    );
    assert_eq!(
        get(format!("{base}/chunked"), trusting.clone()).await,
        LookupResult::Found(json!({"status": "in transit"}))
    );
    let posted = request(
        HttpMethod::Post,
        &format!("{base}/orders"),
        &[("X-Api-Key".into(), "k-1".into())],
        Some(r#"{"phone":"+74951234567"}"#),
        &trusting,
    )
    .await;
    assert_eq!(
        posted,
        LookupResult::Found(json!({"got": {"phone": "+74951234567"}, "key": "k-1"}))
    );
    // Without the company's CA the server is not trusted: the lookup fails (the flow takes
    // its failure branch), nothing is sent.
    match get(format!("{base}/orders/42"), system_only).await {
        LookupResult::Failed(why) => assert!(why.contains("certificate"), "{why}"),
        other => panic!("an untrusted server answered: {other:?}"),
    }
    // Plain HTTP to a TLS port is no answer either.
    assert!(matches!(
        get(
            format!("http://127.0.0.1:{port}/orders/42"),
            trusting.clone()
        )
        .await,
        LookupResult::Failed(_)
    ));
    let _ = server.kill().await;
}
