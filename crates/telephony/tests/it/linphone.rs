//! linphone's console phone (Debian's `linphone-cli`: `linphonec`) as an agent's phone. It is
//! here for what baresip 1.0 cannot do: an attended transfer from the phone (REFER with
//! Replaces, RFC 5589 §7). It is driven through its console on stdin; what it prints is kept
//! for waiting on and for failure messages. It plays a WAV file as its microphone.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, ChildStdin, Command};

use crate::{free_port, World, PASSWORD};

pub struct Linphone {
    child: Child,
    stdin: ChildStdin,
    out: Arc<Mutex<String>>,
    dir: tempfile::TempDir,
}

impl Linphone {
    /// Starts linphonec registered as `ext` (digest), answering calls by itself and sending
    /// `source` (a WAV file) as its voice. Waits until Hotline has its registration.
    pub async fn start(w: &World, ext: &str, source: &Path) -> Linphone {
        let dir = tempfile::tempdir().expect("dir");
        let rc = dir.path().join("linphonerc");
        // Without its database the core never reaches "on" and answers every call 503.
        std::fs::create_dir_all(dir.path().join(".local/share/linphone")).expect("data dir");
        let port = w.addr().port();
        // Its RTP port is one nobody else here uses. The account must be in the file: one
        // made by the console's `register` alone is never sent (linphone-cli 5.1); the
        // console's `register` then sends it once the SIP port is set.
        std::fs::write(
            &rc,
            format!(
                "[sip]\ndefault_proxy=0\nregister_only_when_network_is_up=0\n[net]\nfirewall_policy=0\n\
                 [rtp]\naudio_rtp_port={rtp}\n[sound]\nechocancellation=0\n[video]\nenabled=0\n\
                 [proxy_0]\nreg_proxy=<sip:127.0.0.1:{port}>\nreg_identity=sip:{ext}@127.0.0.1\n\
                 reg_expires=300\nreg_sendregister=1\npublish=0\n\
                 [auth_info_0]\nusername={ext}\npasswd={PASSWORD}\n",
                rtp = free_port()
            ),
        )
        .expect("linphonerc");
        let mut child = Command::new("linphonec")
            .arg("-c")
            .arg(&rc)
            .arg("-l")
            .arg(dir.path().join("linphone.log"))
            .args(["-d", "4"])
            // Its database and state stay in the test's folder.
            .env("HOME", dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("linphonec starts");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let out = Arc::new(Mutex::new(String::new()));
        let sink = out.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Ok(mut o) = sink.lock() {
                    o.push_str(&line);
                    o.push('\n');
                }
            }
        });
        let mut phone = Linphone {
            child,
            stdin,
            out,
            dir,
        };
        for command in [
            format!("ports sip {}", free_port()),
            "soundcard use files".to_string(),
            format!("play {}", source.display()),
            "autoanswer enable".to_string(),
            format!("register sip:{ext}@127.0.0.1 sip:127.0.0.1:{port} {PASSWORD}"),
        ] {
            phone.send(&command).await;
            // It reads its console between turns of its main loop.
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
        if w.try_wait_registered(ext, 1).await.is_none() {
            panic!(
                "linphone did not register as {ext}:\n{}",
                phone.stop().await
            );
        }
        phone
    }

    /// Types a console command.
    pub async fn send(&mut self, command: &str) {
        self.stdin
            .write_all(format!("{command}\n").as_bytes())
            .await
            .expect("linphonec takes a command");
        self.stdin.flush().await.expect("flush");
    }

    /// What it has printed so far.
    pub fn printed(&self) -> String {
        self.out.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// Waits (bounded) until it has printed a line with every one of `words`.
    pub async fn wait_for(&self, words: &[&str], seconds: u64) -> bool {
        let seen = || {
            self.printed()
                .lines()
                .any(|l| words.iter().all(|w| l.contains(w)))
        };
        for _ in 0..seconds * 10 {
            if seen() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        seen()
    }

    /// Quits; returns what it printed and the tail of its SIP log (for failure messages).
    pub async fn stop(mut self) -> String {
        self.send("quit").await;
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.start_kill();
        }
        let log = std::fs::read_to_string(self.dir.path().join("linphone.log")).unwrap_or_default();
        let sip: Vec<&str> = log
            .lines()
            .filter(|l| {
                l.contains("liblinphone-error")
                    || l.starts_with("SIP/2.0 ")
                    || l.ends_with(" SIP/2.0")
                    || l.starts_with("Refer-To:")
                    || l.starts_with("Call-ID:")
            })
            .collect();
        let tail = sip[sip.len().saturating_sub(80)..].join("\n");
        format!("{}\n--- log ---\n{tail}", self.printed())
    }
}
