//! Developer tasks. `cargo xtask openapi` writes docs/openapi.json from the code;
//! `cargo xtask bench [--customers N] [--postgres URL]` runs the storage benchmarks;
//! `cargo xtask sip-bench` measures calls/s through Hotline and through Kamailio;
//! `cargo xtask media-bench` measures RTP relaying through Hotline and through rtpengine;
//! `cargo xtask voice-load`, `email-load` and `chat-load` run the release binary under load.

#![allow(
    clippy::print_stdout,
    reason = "a command-line tool reports on standard output"
)]

mod bench;
mod chatload;
mod emailload;
mod loadrun;
mod mediabench;
mod phones;
mod sipbench;

use anyhow::{bail, Result};
use std::path::PathBuf;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("openapi") => {
            let path = workspace_root().join("docs/openapi.json");
            std::fs::write(&path, hotline_api::openapi::document_json())?;
            println!("wrote {}", path.display());
            Ok(())
        }
        Some("bench") => bench::run(&args[1..]).await,
        Some("sip-bench") => sipbench::run(&args[1..]).await,
        Some("media-bench") => mediabench::run(&args[1..]).await,
        Some("voice-load") => loadrun::run(&args[1..]).await,
        Some("email-load") => emailload::run(&args[1..]).await,
        Some("chat-load") => chatload::run(&args[1..]).await,
        // The load generator of media-bench, run by it as a process of its own.
        Some("media-load") => mediabench::load(&args[1..]),
        _ => bail!(
            "usage: cargo xtask openapi | bench [--customers N] [--events N] [--postgres URL] | sip-bench [--rates 500,1000,...] [--seconds N] [--no-kamailio] | media-bench [--calls 250,500,1000] [--seconds N] [--repeat N] [--no-rtpengine] [--no-hotline] [--no-record] [--blocking-readers] [--in-phase] | voice-load [--rate 50] [--seconds 300] [--agents 450] [--talk 8] | email-load [--mails 10000] [--senders 500] | chat-load [--visitors 1000] [--agents 100] [--messages 5]"
        ),
    }
}
