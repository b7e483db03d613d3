//! The telephony shell against real SIP peers on 127.0.0.1: SIPp and baresip register with
//! digest auth; raw sockets check OPTIONS, TCP framing, the RFC 4475 answers and the defences.
//! SIPp and baresip come from Debian (`sip-tester`, `baresip`); the test command installs them
//! and sets HOTLINE_REQUIRE_SIP_PEERS=1, so there a missing peer fails instead of skipping.

mod agents;
mod attended;
mod calls;
mod controls;
mod flows;
mod linphone;
mod lookups;
mod media;
mod nat;
mod peers;
mod rtcp;
mod scanners;
mod sockets;
mod transfers;

use std::net::SocketAddr;
use std::time::Duration;

use hotline_model::Role;
use hotline_store::{ConnectOptions, NewAgent, NewTenant, NewUser, Store};
use hotline_telephony::{SipConfig, SipService};

pub struct World {
    pub store: Store,
    pub tenant: i64,
    pub sip: SipService,
    pub _dir: tempfile::TempDir,
}

pub const PASSWORD: &str = "s3cret-1001";

pub async fn world(configure: impl FnOnce(&mut SipConfig)) -> World {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("hotline.db").display());
    let store = Store::connect(&url, &ConnectOptions::default())
        .await
        .expect("store");
    store.migrate().await.expect("migrate");
    let t = store
        .create_tenant(&NewTenant {
            name: "Acme".into(),
            slug: "acme".into(),
            default_region: "RU".into(),
            timezone: "Europe/Moscow".into(),
        })
        .await
        .expect("tenant");
    for (i, ext) in ["1001", "1002"].iter().enumerate() {
        let u = store
            .create_user(
                t.id,
                &NewUser {
                    username: format!("agent{i}"),
                    display_name: format!("Agent {i}"),
                    role: Role::Agent,
                    password: "agent-password-1".into(),
                },
            )
            .await
            .expect("user");
        store
            .create_agent(
                t.id,
                &NewAgent {
                    user_id: u.id,
                    extension: ext.to_string(),
                    skills: vec![],
                    sip_password: Some(PASSWORD.into()),
                },
            )
            .await
            .expect("agent");
    }
    let mut config = SipConfig::new("127.0.0.1:0".parse().expect("addr"));
    config.shards = 2;
    configure(&mut config);
    let sip = SipService::start(config, store.clone())
        .await
        .expect("SIP starts");
    World {
        store,
        tenant: t.id,
        sip,
        _dir: dir,
    }
}

impl World {
    pub fn addr(&self) -> SocketAddr {
        self.sip.udp_addr()
    }

    /// Waits (bounded) until `extension` has `n` live bindings in the store.
    pub async fn wait_registered(
        &self,
        extension: &str,
        n: usize,
    ) -> Vec<hotline_store::registrations::SipRegistration> {
        self.try_wait_registered(extension, n)
            .await
            .unwrap_or_else(|| panic!("{extension} did not register {n} contact(s) within 10 s"))
    }

    pub async fn try_wait_registered(
        &self,
        extension: &str,
        n: usize,
    ) -> Option<Vec<hotline_store::registrations::SipRegistration>> {
        let now = || {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0)
        };
        for _ in 0..100 {
            let r = self
                .store
                .registrations_of(self.tenant, extension, now())
                .await
                .expect("store");
            if r.len() >= n {
                return Some(r);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        None
    }
}

/// A peer binary, or `None` to skip (only when the test command does not require it).
pub fn require(binary: &str) -> Option<std::path::PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(binary))
            .find(|p| p.is_file())
    });
    if found.is_none() {
        assert!(
            std::env::var_os("HOTLINE_REQUIRE_SIP_PEERS").is_none(),
            "{binary} is required (HOTLINE_REQUIRE_SIP_PEERS is set) but not installed"
        );
        eprintln!("skipping: {binary} is not installed (scripts/test.sh installs it)");
    }
    found
}

/// A free UDP port on 127.0.0.1 for a peer to bind.
/// A media engine on 127.0.0.1 with ten ports of its own and no recordings, relaying on the
/// io_uring threads or on the runtime; its prompt cache in `dir`.
pub fn loopback_media(io_uring: bool, dir: &std::path::Path) -> hotline_telephony::media::Media {
    let base = (free_port() & !1).min(65000);
    let config = hotline_telephony::media::MediaConfig {
        ports: base..=base + 9,
        idle_timeout: Duration::from_secs(10),
        recordings: None,
        prompt_cache: dir.join("prompts"),
        voice: "ru".into(),
        io_uring,
    };
    hotline_telephony::media::Media::new(config, [127, 0, 0, 1].into(), [127, 0, 0, 1].into())
}

/// Two of `media`'s ports for a bridge's legs, each with the address its peer sends to.
pub fn bridge_ports(
    media: &hotline_telephony::media::Media,
) -> [(hotline_telephony::media::Port, SocketAddr); 2] {
    [(); 2].map(|_| {
        let port = media.take_port().expect("port");
        let to = SocketAddr::from(([127, 0, 0, 1], port.port));
        (port, to)
    })
}

/// An RTP packet of 20 ms of PCMU from `ssrc`, the `seq`th of its stream.
pub fn pcmu_packet(ssrc: u32, seq: u16) -> Vec<u8> {
    let mut b = vec![0u8; 200];
    let h = hotline_media::rtp::RtpHeader {
        marker: false,
        payload_type: 0,
        sequence: seq,
        timestamp: u32::from(seq) * 160,
        ssrc,
    };
    let n = h.write(&[0xd5; 160], &mut b).expect("fits");
    b.truncate(n);
    b
}

pub fn free_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("free port")
}
