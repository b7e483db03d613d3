//! The security log: one line per refused or failed request, on the `hotline::security` target,
//! in a fixed format that `contrib/fail2ban/hotline-sip.conf` matches:
//!
//! ```text
//! SIP security: event=<event> src=<ip>:<port> transport=<udp|tcp> method=<METHOD> user=<extension or -> detail=<word>
//! ```
//!
//! `user` is the extension a REGISTER claimed (an internal number, not a customer's); caller
//! numbers and URIs never appear.

use hotline_sip::transaction::Peer;

pub fn log(event: &str, from: &Peer, method: &str, user: Option<&str>, detail: &str) {
    let (src, transport) = (from.addr, transport_name(from));
    let user: String = user
        .map(|u| {
            u.chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                .take(32)
                .collect()
        })
        .filter(|u: &String| !u.is_empty())
        .unwrap_or_else(|| "-".to_string());
    let method: String = method
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(16)
        .collect();
    tracing::warn!(
        target: "hotline::security",
        "SIP security: event={event} src={src} transport={transport} method={method} user={user} detail={detail}"
    );
}

/// `udp` or `tcp`, as the log and the registrations' `source` write it.
pub fn transport_name(peer: &Peer) -> &'static str {
    if peer.transport.reliable() {
        "tcp"
    } else {
        "udp"
    }
}
