//! Configuration: command-line flags, `HOTLINE_*` environment variables, and a TOML file.
//! A flag or variable wins over the file; the file wins over the defaults.

use anyhow::{bail, Context, Result};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The `--config` file. Unknown keys are errors, so a typo does not silently do nothing.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub http: Option<String>,
    pub sip: Option<String>,
    pub smtp: Option<String>,
    pub rtp_ports: Option<String>,
    pub database_url: Option<String>,
    pub demo: Option<bool>,
    pub log: Option<String>,
    pub session_hours: Option<i64>,
    pub secure_cookies: Option<bool>,
    /// Chats opened, messages left and forms sent per client address and site in 10 minutes
    /// (default 20).
    pub public_requests_per_10_minutes: Option<u32>,
    /// Offer a SHA-256 digest challenge (first) beside MD5. Off by default: SIPp 3.6 and
    /// libre-based phones fail when a SHA-256 challenge is offered.
    pub sip_digest_sha256: Option<bool>,
    /// The tenant (slug) phones belong to when they register to an address, not to
    /// `EXT@tenant`; by default the only tenant, if there is one.
    pub sip_default_realm: Option<String>,
    /// A PEM file of the CA(s) flows trust, beside the system's roots, when they look things
    /// up in company systems over `https://` (a company's own CA).
    pub lookup_ca_file: Option<PathBuf>,
    /// Bridged calls relayed by io_uring threads (default true; off, or where the kernel
    /// refuses io_uring, they relay on the async runtime at a higher CPU cost per packet).
    pub media_io_uring: Option<bool>,
}

impl FileConfig {
    pub fn load(path: &Path) -> Result<FileConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).map_err(|e| {
            let (line, col) = e.span().map_or((1, 1), |span| line_col(&text, span.start));
            anyhow::anyhow!(
                "config file {}, line {line}, column {col}: {}",
                path.display(),
                e.message()
            )
        })
    }
}

fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// An inclusive range of UDP ports for RTP; both ends even (RTP on even, RTCP on odd ports).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub lo: u16,
    pub hi: u16,
}

impl std::str::FromStr for PortRange {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (lo, hi) = s
            .split_once('-')
            .ok_or("expected LO-HI, e.g. 10000-20000")?;
        let lo: u16 = lo
            .trim()
            .parse()
            .map_err(|_| format!("{lo:?} is not a port number"))?;
        let hi: u16 = hi
            .trim()
            .parse()
            .map_err(|_| format!("{hi:?} is not a port number"))?;
        if lo < 1024 || lo >= hi {
            return Err("expected 1024 <= LO < HI".into());
        }
        if hi - lo < 2 {
            return Err("the range must hold at least one RTP/RTCP pair".into());
        }
        Ok(PortRange { lo, hi })
    }
}

impl std::fmt::Display for PortRange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.lo, self.hi)
    }
}

pub fn parse_addr(what: &str, s: &str) -> Result<SocketAddr> {
    match s.parse() {
        Ok(a) => Ok(a),
        Err(_) => {
            bail!("{what} address {s:?} is not HOST:PORT with a numeric host, e.g. 127.0.0.1:8080")
        }
    }
}

/// The database URL with any password replaced, for messages and logs.
pub fn display_url(url: &str) -> String {
    if let Some((scheme, rest)) = url.split_once("://") {
        if let Some((creds, host)) = rest.split_once('@') {
            if let Some((user, _)) = creds.split_once(':') {
                return format!("{scheme}://{user}:***@{host}");
            }
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_errors_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hotline.toml");
        std::fs::write(&path, "http = \"127.0.0.1:9000\"\n\ndemo = maybe\n").unwrap();
        let err = FileConfig::load(&path).unwrap_err().to_string();
        assert!(err.contains("hotline.toml, line 3"), "{err}");
        std::fs::write(&path, "htp = \"x\"\n").unwrap();
        let err = FileConfig::load(&path).unwrap_err().to_string();
        assert!(
            err.contains("line 1") && err.contains("unknown field"),
            "{err}"
        );
        std::fs::write(&path, "http = \"127.0.0.1:9000\"\ndemo = true\n").unwrap();
        let ok = FileConfig::load(&path).unwrap();
        assert_eq!(
            (ok.http.as_deref(), ok.demo),
            (Some("127.0.0.1:9000"), Some(true))
        );
        assert!(FileConfig::load(&dir.path().join("missing.toml")).is_err());
    }

    #[test]
    fn ports_and_urls() {
        assert_eq!(
            "10000-20000".parse::<PortRange>().unwrap(),
            PortRange {
                lo: 10000,
                hi: 20000
            }
        );
        for bad in ["", "10000", "20000-10000", "80-90", "x-y", "10000-10001"] {
            assert!(bad.parse::<PortRange>().is_err(), "{bad}");
        }
        assert_eq!(
            display_url("postgres://hl:secret@db:5432/hotline"),
            "postgres://hl:***@db:5432/hotline"
        );
        assert_eq!(
            display_url("sqlite://./hotline-data/hotline.db"),
            "sqlite://./hotline-data/hotline.db"
        );
    }
}
