//! Real mail servers for tests: Debian's dovecot (IMAP with IDLE, LMTP) and postfix (SMTP)
//! with private configurations under a folder of the test's, on free 127.0.0.1 ports, for
//! the domain `example.test`. Postfix delivers every `@example.test` mailbox to dovecot over
//! LMTP; an unknown user is refused there, so postfix bounces to the sender as on any mail
//! server. Needs root (postfix and dovecot drop to their own users). Stopped on drop.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

pub const DOMAIN: &str = "example.test";
pub const PASSWORD: &str = "mail-test-password";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

fn id(flag: &str, user: &str) -> String {
    Command::new("id")
        .args([flag, user])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// Runs a command that, like postfix, prints to a terminal only: its exit status and what it
/// logged are checked by the caller through the mail log.
fn run(cmd: &mut Command) -> std::io::Result<bool> {
    Ok(cmd.status()?.success())
}

/// A test CA and a certificate it signed for 127.0.0.1 and localhost (openssl), in `dir`
/// (`ca.pem`, `server.pem`, `server.key`);
/// the CA's PEM.
pub fn certificates(dir: &Path) -> Result<String, String> {
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    let ext = dir.join("server.ext");
    std::fs::write(
        &ext,
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| e.to_string())?;
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let steps: [Vec<&str>; 3] = [
        [
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=Hotline test CA",
            ],
        ]
        .concat(),
        [
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
        vec![
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    ];
    for args in steps {
        let out = Command::new("openssl")
            .args(&args)
            .current_dir(dir)
            .output()
            .map_err(|e| format!("openssl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    // Read by postfix's and dovecot's own users (a throwaway key of a test).
    let _ = Command::new("chmod")
        .arg("644")
        .arg(dir.join("server.key"))
        .status();
    std::fs::read_to_string(dir.join("ca.pem")).map_err(|e| e.to_string())
}

pub struct MailServers {
    pub dir: PathBuf,
    /// SMTP; STARTTLS offered.
    pub smtp_port: u16,
    /// IMAP; STARTTLS offered (plain log-in allowed too).
    pub imap_port: u16,
    /// IMAP over TLS.
    pub imaps_port: u16,
    pub lmtp_port: u16,
    /// The test CA (PEM) that signed both servers' certificate (for 127.0.0.1 and localhost).
    pub ca_pem: String,
    postfix_conf: PathBuf,
    dovecot_pid: PathBuf,
}

impl MailServers {
    /// Starts both with these local parts as mailboxes (password [`PASSWORD`]).
    pub fn start(dir: &Path, users: &[&str]) -> Result<MailServers, String> {
        MailServers::start_relaying(dir, users, None)
    }

    /// The same, and postfix relays mail for `relay`'s domain to its SMTP port on 127.0.0.1
    /// (a company's mail server handing mail to Hotline by direct delivery).
    pub fn start_relaying(
        dir: &Path,
        users: &[&str],
        relay: Option<(&str, u16)>,
    ) -> Result<MailServers, String> {
        let dir = dir.to_path_buf();
        let (smtp_port, imap_port, lmtp_port) = (free_port(), free_port(), free_port());
        let imaps_port = free_port();
        let mail = dir.join("mail");
        let dov = dir.join("dovecot");
        let pf = dir.join("postfix");
        for d in [
            &mail,
            &dov,
            &pf.join("etc"),
            &pf.join("data"),
            &pf.join("spool"),
        ] {
            std::fs::create_dir_all(d).map_err(|e| format!("{}: {e}", d.display()))?;
        }
        // Every folder on the way must be passable for postfix's and dovecot's users.
        let mut p = dir.clone();
        loop {
            let _ = Command::new("chmod").arg("o+x").arg(&p).status();
            if !p.pop() || p.as_os_str().is_empty() || p == Path::new("/") {
                break;
            }
        }
        let tls = dir.join("tls");
        let ca_pem = certificates(&tls)?;
        let (uid, gid) = (id("-u", "dovenull"), id("-g", "dovenull"));
        if uid.is_empty() {
            return Err("dovecot is not installed (no dovenull user)".into());
        }
        let _ = Command::new("chown")
            .args(["-R", "dovenull:dovenull"])
            .arg(&mail)
            .status();
        let _ = Command::new("chown")
            .arg("postfix")
            .arg(pf.join("data"))
            .status();
        let users_file: String = users
            .iter()
            .map(|u| {
                format!(
                    "{u}@{DOMAIN}:{{PLAIN}}{PASSWORD}:{uid}:{gid}::{}/{u}@{DOMAIN}\n",
                    mail.display()
                )
            })
            .collect();
        std::fs::write(dov.join("users"), users_file).map_err(|e| e.to_string())?;
        let d = dov.display();
        let t = tls.display();
        let conf = format!(
            "base_dir = {d}/run\nstate_dir = {d}/state\nlog_path = {d}/log\n\
protocols = imap lmtp\nlisten = 127.0.0.1\nssl = yes\nssl_cert = <{t}/server.pem\nssl_key = <{t}/server.key\n\
disable_plaintext_auth = no\n\
auth_mechanisms = plain login\nmail_location = maildir:~/Maildir\nfirst_valid_uid = 1\n\
passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN username_format=%u {d}/users\n}}\n\
userdb {{\n  driver = passwd-file\n  args = username_format=%u {d}/users\n}}\n\
service imap-login {{\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap_port}\n  }}\n\
  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {imaps_port}\n    ssl = yes\n  }}\n}}\n\
service lmtp {{\n  inet_listener lmtp {{\n    address = 127.0.0.1\n    port = {lmtp_port}\n  }}\n}}\n\
protocol lmtp {{\n  postmaster_address = postmaster@{DOMAIN}\n}}\n"
        );
        std::fs::write(dov.join("dovecot.conf"), conf).map_err(|e| e.to_string())?;
        if !run(Command::new("dovecot")
            .arg("-c")
            .arg(dov.join("dovecot.conf")))
        .map_err(|e| format!("dovecot: {e}"))?
        {
            return Err(format!(
                "dovecot did not start: {}",
                std::fs::read_to_string(dov.join("log")).unwrap_or_default()
            ));
        }
        let p = pf.display();
        let relaying = relay.map_or(String::new(), |(domain, port)| {
            format!("relay_domains = {domain}\ntransport_maps = inline:{{ {domain}=smtp:[127.0.0.1]:{port} }}\n")
        });
        let main = format!(
            "compatibility_level = 3.6\nqueue_directory = {p}/spool\ndata_directory = {p}/data\n\
mail_owner = postfix\nsetgid_group = postdrop\nmyhostname = mx.{DOMAIN}\nmydomain = {DOMAIN}\n\
myorigin = {DOMAIN}\nmydestination =\ninet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n\
mynetworks = 127.0.0.0/8\nvirtual_mailbox_domains = {DOMAIN}\n\
virtual_transport = lmtp:inet:127.0.0.1:{lmtp_port}\nsmtputf8_enable = yes\n\
maillog_file = {p}/log\nmaillog_file_prefixes = {p}\nmessage_size_limit = 52428800\n\
bounce_queue_lifetime = 0\nmaximal_queue_lifetime = 1h\n\
smtpd_tls_cert_file = {t}/server.pem\nsmtpd_tls_key_file = {t}/server.key\nsmtpd_tls_security_level = may\nsmtpd_tls_loglevel = 1\n{relaying}"
        );
        std::fs::write(pf.join("etc/main.cf"), main).map_err(|e| e.to_string())?;
        let master = std::fs::read_to_string("/etc/postfix/master.cf")
            .map_err(|e| format!("postfix is not installed: {e}"))?;
        let master: String = master
            .lines()
            .map(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                if l.starts_with('#') || l.starts_with(' ') || cols.len() < 8 {
                    return format!("{l}\n");
                }
                // No chroot (the spool is ours); smtpd on our port.
                let name = if cols[0] == "smtp" && cols[1] == "inet" {
                    format!("127.0.0.1:{smtp_port}")
                } else {
                    cols[0].to_string()
                };
                let chroot = if cols[4] == "y" { "n" } else { cols[4] };
                format!(
                    "{name} {} {} {} {chroot} {} {} {}\n",
                    cols[1],
                    cols[2],
                    cols[3],
                    cols[5],
                    cols[6],
                    cols[7..].join(" ")
                )
            })
            .collect();
        std::fs::write(pf.join("etc/master.cf"), master).map_err(|e| e.to_string())?;
        let servers = MailServers {
            dir: dir.clone(),
            smtp_port,
            imap_port,
            imaps_port,
            lmtp_port,
            ca_pem,
            postfix_conf: pf.join("etc"),
            dovecot_pid: dov.join("run/master.pid"),
        };
        let started = run(Command::new("postfix")
            .arg("-c")
            .arg(&servers.postfix_conf)
            .arg("start"))
        .map_err(|e| format!("postfix: {e}"))?;
        if !started {
            return Err(format!(
                "postfix did not start: {}",
                std::fs::read_to_string(pf.join("log")).unwrap_or_default()
            ));
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", smtp_port)).is_err()
            || TcpStream::connect(("127.0.0.1", imap_port)).is_err()
            || TcpStream::connect(("127.0.0.1", imaps_port)).is_err()
        {
            if Instant::now() > deadline {
                return Err("postfix or dovecot did not listen within 20 s".into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(servers)
    }

    /// Submits a mail over SMTP as any program would; the server's last answer on failure.
    pub fn send(&self, from: &str, to: &[&str], data: &[u8]) -> Result<(), String> {
        smtp_send(self.smtp_port, from, to, data)
    }

    /// The mails delivered to `user@example.test`'s INBOX and other folders, as bytes, oldest
    /// first (by file name, which dovecot starts with the delivery time).
    pub fn delivered(&self, user: &str) -> Vec<Vec<u8>> {
        let root = self
            .dir
            .join("mail")
            .join(format!("{user}@{DOMAIN}/Maildir"));
        let mut files = Vec::new();
        collect(&root, &mut files);
        files.sort_by_key(|p| p.file_name().map(|n| n.to_os_string()));
        files
            .into_iter()
            .filter_map(|p| std::fs::read(p).ok())
            .collect()
    }

    /// Waits until `user` has at least `n` mails matching `pred`; they are returned.
    pub fn wait_for(
        &self,
        user: &str,
        n: usize,
        seconds: u64,
        pred: impl Fn(&[u8]) -> bool,
    ) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + Duration::from_secs(seconds);
        loop {
            let found: Vec<Vec<u8>> = self
                .delivered(user)
                .into_iter()
                .filter(|m| pred(m))
                .collect();
            if found.len() >= n || Instant::now() > deadline {
                return found;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Dovecot's log (log-ins, with `TLS` when under TLS).
    pub fn imap_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dovecot/log")).unwrap_or_default()
    }

    /// Postfix's log (deliveries, bounces).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("postfix/log")).unwrap_or_default()
    }
}

fn collect(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            collect(&p, out);
        } else if p
            .parent()
            .and_then(|d| d.file_name())
            .is_some_and(|n| n == "new" || n == "cur")
        {
            out.push(p);
        }
    }
}

impl Drop for MailServers {
    fn drop(&mut self) {
        let _ = Command::new("postfix")
            .arg("-c")
            .arg(&self.postfix_conf)
            .arg("stop")
            .status();
        if let Ok(pid) = std::fs::read_to_string(&self.dovecot_pid) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// A plain SMTP submission (EHLO, MAIL, RCPT, DATA with dot-stuffing).
pub fn smtp_send(port: u16, from: &str, to: &[&str], data: &[u8]) -> Result<(), String> {
    let stream = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .map_err(|e| e.to_string())?;
    let mut w = stream.try_clone().map_err(|e| e.to_string())?;
    let mut r = BufReader::new(stream);
    let answer = |r: &mut BufReader<TcpStream>| -> Result<(u16, String), String> {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            if r.read_line(&mut line).map_err(|e| e.to_string())? == 0 {
                return Err(format!("connection closed after {all:?}"));
            }
            all.push_str(&line);
            if line.len() < 4 || line.as_bytes()[3] != b'-' {
                let code = line.get(..3).and_then(|c| c.parse().ok()).unwrap_or(0);
                return Ok((code, all));
            }
        }
    };
    let expect = |r: &mut BufReader<TcpStream>, w: &mut TcpStream, cmd: Option<String>, ok: u16| {
        if let Some(c) = cmd {
            w.write_all(c.as_bytes()).map_err(|e| e.to_string())?;
        }
        let (code, text) = answer(r)?;
        if code / 100 != ok / 100 {
            return Err(text);
        }
        Ok(())
    };
    expect(&mut r, &mut w, None, 220)?;
    expect(
        &mut r,
        &mut w,
        Some("EHLO client.example.test\r\n".into()),
        250,
    )?;
    expect(&mut r, &mut w, Some(format!("MAIL FROM:<{from}>\r\n")), 250)?;
    for t in to {
        expect(&mut r, &mut w, Some(format!("RCPT TO:<{t}>\r\n")), 250)?;
    }
    expect(&mut r, &mut w, Some("DATA\r\n".into()), 354)?;
    let mut body = Vec::with_capacity(data.len() + 16);
    for line in data.split_inclusive(|b| *b == b'\n') {
        if line.starts_with(b".") {
            body.push(b'.');
        }
        body.extend_from_slice(line);
    }
    if !body.ends_with(b"\r\n") {
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b".\r\n");
    w.write_all(&body).map_err(|e| e.to_string())?;
    expect(&mut r, &mut w, None, 250)?;
    let _ = w.write_all(b"QUIT\r\n");
    Ok(())
}
