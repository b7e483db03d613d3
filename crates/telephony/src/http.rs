//! The HTTP client for flow lookups in company systems: HTTP/1.1 over TCP or TLS
//! (`https://`: rustls, the server's certificate checked against the system's roots and the
//! CA the admin names in `lookup_ca_file`), one request per connection, JSON answers. The
//! caller bounds the time (the flow's budget); this bounds the size.

use hotline_flow::flow::HttpMethod;
use hotline_flow::run::LookupResult;
use hotline_tls::ClientConfig;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest answer read.
const MAX_RESPONSE: usize = 1 << 20;

#[derive(Debug)]
struct Url<'a> {
    https: bool,
    host: &'a str,
    port: u16,
    path: &'a str,
}

fn parse_url(url: &str) -> Result<Url<'_>, String> {
    let (https, rest) = if let Some(r) = url.strip_prefix("http://") {
        (false, r)
    } else if let Some(r) = url.strip_prefix("https://") {
        (true, r)
    } else {
        return Err("not an http:// or https:// URL".into());
    };
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => {
            (h, p.parse::<u16>().map_err(|_| "bad port".to_string())?)
        }
        _ => (authority, if https { 443 } else { 80 }),
    };
    if host.is_empty() || host.contains(['@', ' ']) || path.contains([' ', '\r', '\n']) {
        return Err("bad URL".into());
    }
    Ok(Url {
        https,
        host,
        port,
        path,
    })
}

/// Sends the request; 2xx with a JSON body is found, 404 (or an empty answer) not found,
/// anything else an error. `tls` is what `https://` trusts ([`hotline_tls::client_config`],
/// made once; an error there fails `https://` lookups with it).
pub async fn request(
    method: HttpMethod,
    url: &str,
    headers: &[(String, String)],
    body: Option<&str>,
    tls: &Result<Arc<ClientConfig>, String>,
) -> LookupResult {
    match send(method, url, headers, body, tls).await {
        Ok(r) => r,
        Err(e) => LookupResult::Failed(e),
    }
}

async fn send(
    method: HttpMethod,
    url: &str,
    headers: &[(String, String)],
    body: Option<&str>,
    tls: &Result<Arc<ClientConfig>, String>,
) -> Result<LookupResult, String> {
    let u = parse_url(url)?;
    let host = u.host.trim_start_matches('[').trim_end_matches(']');
    let mut tcp = tokio::net::TcpStream::connect((host, u.port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let method = match method {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
    };
    let mut req = format!(
        "{method} {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAccept: application/json\r\nUser-Agent: Hotline\r\n",
        u.path, u.host
    );
    for (k, v) in headers {
        if k.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
            return Err("a header holds a line break".into());
        }
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    let body = body.unwrap_or_default();
    if method == "POST" {
        req.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    req.push_str("\r\n");
    req.push_str(if method == "POST" { body } else { "" });
    let raw = if u.https {
        let config = tls.clone()?;
        let mut stream = hotline_tls::connect_with(tcp, host, config).await?;
        exchange(&mut stream, req.as_bytes()).await?
    } else {
        exchange(&mut tcp, req.as_bytes()).await?
    };
    answer(&raw)
}

/// Sends the request and reads the answer: all of it (Content-Length), or to the end.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    req: &[u8],
) -> Result<Vec<u8>, String> {
    stream
        .write_all(req)
        .await
        .map_err(|e| format!("send: {e}"))?;
    let mut raw = Vec::with_capacity(4096);
    let mut buf = [0u8; 8192];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(n) => n,
            // A TLS server that closes without close_notify ends an answer read to its end.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => 0,
            Err(e) => return Err(format!("read: {e}")),
        };
        if n == 0 {
            break;
        }
        raw.extend_from_slice(&buf[..n]);
        if raw.len() > MAX_RESPONSE {
            return Err("the answer is larger than 1 MiB".into());
        }
        if let Some(done) = complete(&raw) {
            raw.truncate(done);
            break;
        }
    }
    Ok(raw)
}

/// A whole answer read: its JSON, not found, or what is wrong.
fn answer(raw: &[u8]) -> Result<LookupResult, String> {
    let head_end = find(raw, b"\r\n\r\n").ok_or("no HTTP answer")?;
    let head = std::str::from_utf8(&raw[..head_end]).map_err(|_| "bad HTTP answer")?;
    let status: u16 = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or("bad HTTP status line")?;
    let chunked = head.lines().any(|l| {
        l.to_ascii_lowercase().starts_with("transfer-encoding:")
            && l.to_ascii_lowercase().contains("chunked")
    });
    let mut body = raw[head_end + 4..].to_vec();
    if chunked {
        body = dechunk(&body).ok_or("bad chunked answer")?;
    }
    match status {
        404 => Ok(LookupResult::NotFound),
        200..=299 => {
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(LookupResult::NotFound);
            }
            serde_json::from_slice(&body)
                .map(LookupResult::Found)
                .map_err(|e| format!("the answer is not JSON: {e}"))
        }
        s => Err(format!("HTTP {s}")),
    }
}

fn find(h: &[u8], n: &[u8]) -> Option<usize> {
    h.windows(n.len()).position(|w| w == n)
}

/// The length of a complete answer with a Content-Length, once all of it is here.
fn complete(raw: &[u8]) -> Option<usize> {
    let end = find(raw, b"\r\n\r\n")?;
    let head = std::str::from_utf8(&raw[..end]).ok()?;
    let len: usize = head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("content-length")
            .then(|| v.trim().parse().ok())
            .flatten()
    })?;
    (raw.len() >= end + 4 + len).then_some(end + 4 + len)
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let line_end = find(b, b"\r\n")?;
        let size = usize::from_str_radix(
            std::str::from_utf8(&b[..line_end])
                .ok()?
                .split(';')
                .next()?
                .trim(),
            16,
        )
        .ok()?;
        b = &b[line_end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        let u = parse_url("http://127.0.0.1:8080/orders/1?x=2").unwrap();
        assert_eq!(
            (u.host, u.port, u.path),
            ("127.0.0.1", 8080, "/orders/1?x=2")
        );
        let u = parse_url("http://crm.local").unwrap();
        assert_eq!((u.host, u.port, u.path), ("crm.local", 80, "/"));
        let u = parse_url("https://crm.example/v1").unwrap();
        assert_eq!(
            (u.https, u.host, u.port, u.path),
            (true, "crm.example", 443, "/v1")
        );
        assert!(!parse_url("http://crm").unwrap().https);
        assert!(parse_url("ftp://x").is_err());
        assert!(parse_url("http://a b/").is_err());
    }

    #[test]
    fn chunks() {
        assert_eq!(
            dechunk(b"4\r\n{\"a\"\r\n3\r\n:1}\r\n0\r\n\r\n").unwrap(),
            b"{\"a\":1}"
        );
        assert!(dechunk(b"zz\r\n").is_none());
    }
}
