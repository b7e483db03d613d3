//! Sockets: one UDP socket and one TCP listener on the same address. Inbound bytes become
//! messages (with RFC 3581 `received`/`rport` marked) routed to a shard by Call-ID; outbound
//! bytes go back by UDP or on the connection a request came in on.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hotline_sip::transaction::{Peer, Transmit, Transport};
use hotline_sip::{parse_datagram, Message, StreamItem, StreamParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::{mpsc, watch};

use crate::TelephonyError;

/// Most TCP connections served at once (each costs a task and a buffer).
pub const MAX_CONNECTIONS: usize = 4_096;

/// A message for a shard and where it came from.
pub struct Inbound {
    pub message: Message,
    pub from: Peer,
}

pub(crate) async fn bind(addr: SocketAddr) -> Result<(UdpSocket, TcpListener), TelephonyError> {
    let err = |source: std::io::Error| match source.kind() {
        std::io::ErrorKind::AddrInUse => TelephonyError::AddrInUse { addr },
        _ => TelephonyError::Bind { addr, source },
    };
    // Port 0: find a port free for both.
    for _ in 0..20 {
        let udp = udp_socket(addr).map_err(err)?;
        let port = udp.local_addr().map_err(err)?.port();
        match TcpListener::bind(SocketAddr::new(addr.ip(), port)).await {
            Ok(tcp) => return Ok((udp, tcp)),
            Err(e) if addr.port() == 0 && e.kind() == std::io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(err(e)),
        }
    }
    Err(TelephonyError::AddrInUse { addr })
}

/// Kernel buffers asked for the UDP socket (capped by net.core.rmem_max / wmem_max): a burst
/// of thousands of messages must not be dropped before the reader gets to it.
const UDP_BUFFER: usize = 8 * 1024 * 1024;

fn udp_socket(addr: SocketAddr) -> std::io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    // Best effort: a smaller buffer still works.
    let _ = socket.set_recv_buffer_size(UDP_BUFFER);
    let _ = socket.set_send_buffer_size(UDP_BUFFER);
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    UdpSocket::from_std(socket.into())
}

/// Where outbound bytes go.
#[derive(Clone)]
pub struct Outbound {
    udp: Arc<UdpSocket>,
    connections: Arc<Mutex<Connections>>,
    /// Ids of TCP connections, accepted or dialled.
    next_id: Arc<std::sync::atomic::AtomicU64>,
    /// What a dialled connection needs to run like an accepted one (set once the shards run).
    dialer: Arc<std::sync::OnceLock<(Router, watch::Receiver<bool>)>>,
}

/// Open TCP connections by id, and the latest by peer address (requests to a phone that
/// registered over TCP reuse its connection).
#[derive(Default)]
struct Connections {
    by_id: HashMap<u64, (SocketAddr, mpsc::Sender<Bytes>)>,
    by_addr: HashMap<SocketAddr, u64>,
}

impl Outbound {
    pub(crate) fn new(udp: Arc<UdpSocket>) -> Outbound {
        Outbound {
            udp,
            connections: Arc::new(Mutex::new(Connections::default())),
            next_id: Arc::new(std::sync::atomic::AtomicU64::new(0)),
            dialer: Arc::new(std::sync::OnceLock::new()),
        }
    }

    pub async fn send(&self, t: Transmit) {
        match (t.to.transport, t.to.connection) {
            (Transport::Udp, _) => {
                // Without waiting when the socket has room (nearly always); else wait for it.
                let sent = match self.udp.try_send_to(&t.bytes, t.to.addr) {
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                        self.udp.send_to(&t.bytes, t.to.addr).await
                    }
                    other => other,
                };
                if let Err(e) = sent {
                    tracing::debug!(error = %e, to = %t.to.addr, "UDP send failed");
                }
            }
            (Transport::Tcp, connection) => {
                let found = self.connections.lock().ok().and_then(|c| {
                    let id = connection.or_else(|| c.by_addr.get(&t.to.addr).copied())?;
                    c.by_id.get(&id).map(|(_, s)| (id, s.clone()))
                });
                let (id, sender) = match found {
                    Some((id, s)) => (id, Some(s)),
                    // Nothing open to that peer (a TCP trunk): connect.
                    None if connection.is_none() => (0, self.dial(t.to.addr)),
                    None => (connection.unwrap_or(0), None),
                };
                match sender {
                    Some(s) => {
                        if s.try_send(t.bytes).is_err() {
                            tracing::debug!(
                                connection = id,
                                "TCP connection gone or full; message dropped"
                            );
                        }
                    }
                    None => {
                        tracing::debug!(connection = id, "TCP connection closed before the answer")
                    }
                }
            }
        }
    }

    pub(crate) fn set_dialer(&self, router: Router, stop: watch::Receiver<bool>) {
        let _ = self.dialer.set((router, stop));
    }

    fn next_connection_id(&self) -> u64 {
        self.next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            + 1
    }

    /// Opens a TCP connection to `addr` in the background; what is sent meanwhile waits in
    /// its queue. The connection then runs like an accepted one (answers come back on it).
    fn dial(&self, addr: SocketAddr) -> Option<mpsc::Sender<Bytes>> {
        let (router, stop) = self.dialer.get()?.clone();
        let id = self.next_connection_id();
        let (tx, rx) = mpsc::channel(256);
        if !self.add_connection(id, addr, tx.clone()) {
            return None;
        }
        let out = self.clone();
        tokio::spawn(async move {
            let connect = TcpStream::connect(addr);
            match tokio::time::timeout(std::time::Duration::from_secs(5), connect).await {
                Ok(Ok(stream)) => {
                    let _ = stream.set_nodelay(true);
                    connection(stream, addr, id, rx, router, out, stop).await
                }
                Ok(Err(e)) => {
                    tracing::warn!(%addr, error = %e, "TCP connection to peer failed");
                    out.remove_connection(id);
                }
                Err(_) => {
                    tracing::warn!(%addr, "TCP connection to peer timed out");
                    out.remove_connection(id);
                }
            }
        });
        Some(tx)
    }

    fn add_connection(&self, id: u64, addr: SocketAddr, tx: mpsc::Sender<Bytes>) -> bool {
        let Ok(mut c) = self.connections.lock() else {
            return false;
        };
        if c.by_id.len() >= MAX_CONNECTIONS {
            return false;
        }
        c.by_id.insert(id, (addr, tx));
        c.by_addr.insert(addr, id);
        true
    }

    fn remove_connection(&self, id: u64) {
        if let Ok(mut c) = self.connections.lock() {
            if let Some((addr, _)) = c.by_id.remove(&id) {
                if c.by_addr.get(&addr) == Some(&id) {
                    c.by_addr.remove(&addr);
                }
            }
        }
    }
}

/// The shard of a Call-ID. The B legs a shard places carry `hl<shard>-` in front of theirs,
/// so both legs of a call meet in the shard that holds it; other Call-IDs are hashed.
pub fn shard_of(call_id: &str, shards: usize) -> usize {
    let shards = shards.max(1);
    if let Some(rest) = call_id.strip_prefix("hl") {
        if let Some((n, _)) = rest.split_once('-') {
            if let Ok(n) = n.parse::<usize>() {
                return n % shards;
            }
        }
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    call_id.hash(&mut h);
    (h.finish() % shards as u64) as usize
}

/// Sends each message to its shard: all messages of one Call-ID meet in one place.
#[derive(Clone)]
pub struct Router {
    shards: Arc<Vec<mpsc::Sender<Inbound>>>,
}

impl Router {
    pub(crate) fn new(shards: Vec<mpsc::Sender<Inbound>>) -> Router {
        Router {
            shards: Arc::new(shards),
        }
    }

    fn route(&self, mut message: Message, from: Peer) {
        if message.is_request() {
            message.mark_received(from.addr.ip(), from.addr.port());
        }
        let shard = shard_of(message.call_id().unwrap_or(""), self.shards.len());
        if let Some(s) = self.shards.get(shard) {
            // A full shard sheds load: UDP peers retransmit, and a flood is not worth queueing.
            if s.try_send(Inbound { message, from }).is_err() {
                tracing::debug!(shard, "shard queue full; message dropped");
            }
        }
    }
}

pub(crate) async fn serve_udp(
    udp: Arc<UdpSocket>,
    router: Router,
    mut stop: watch::Receiver<bool>,
) {
    let mut buf = vec![0u8; 65_536];
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            r = udp.recv_from(&mut buf) => {
                let Ok((n, src)) = r else { continue };
                let data = &buf[..n];
                // CRLF keep-alives (RFC 5626 §4.4.1 sends them over UDP as well).
                if data.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                    continue;
                }
                let from = Peer { transport: Transport::Udp, addr: src, connection: None };
                match parse_datagram(data) {
                    Ok(m) => router.route(m, from),
                    Err(e) => crate::security::log("malformed", &from, "-", None, &format!("{e:?}")),
                }
            }
        }
    }
}

pub(crate) async fn serve_tcp(
    listener: TcpListener,
    router: Router,
    out: Outbound,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            r = listener.accept() => {
                let Ok((stream, src)) = r else { continue };
                let id = out.next_connection_id();
                let (tx, rx) = mpsc::channel(256);
                if !out.add_connection(id, src, tx) {
                    let from = Peer { transport: Transport::Tcp, addr: src, connection: None };
                    crate::security::log("connection_limit", &from, "-", None, "refused");
                    continue;
                }
                tokio::spawn(connection(stream, src, id, rx, router.clone(), out.clone(), stop.clone()));
            }
        }
    }
}

async fn connection(
    stream: TcpStream,
    src: SocketAddr,
    id: u64,
    mut outbound: mpsc::Receiver<Bytes>,
    router: Router,
    out: Outbound,
    mut stop: watch::Receiver<bool>,
) {
    let (mut reader, mut writer) = stream.into_split();
    let mut parser = StreamParser::new();
    let mut buf = vec![0u8; 16 * 1024];
    let peer = Peer {
        transport: Transport::Tcp,
        addr: src,
        connection: Some(id),
    };
    // An idle connection is closed after this long (phones keep theirs alive with CRLF pings).
    let idle = std::time::Duration::from_secs(600);
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            Some(bytes) = outbound.recv() => {
                if writer.write_all(&bytes).await.is_err() {
                    break;
                }
            }
            r = tokio::time::timeout(idle, reader.read(&mut buf)) => {
                let n = match r {
                    Ok(Ok(0)) | Ok(Err(_)) | Err(_) => break,
                    Ok(Ok(n)) => n,
                };
                parser.feed(&buf[..n]);
                loop {
                    match parser.next_item() {
                        Ok(None) => break,
                        Ok(Some(StreamItem::Ping)) => {
                            if writer.write_all(b"\r\n").await.is_err() {
                                break;
                            }
                        }
                        Ok(Some(StreamItem::Message(m))) => router.route(m, peer),
                        Err(e) => {
                            crate::security::log("malformed", &peer, "-", None, &format!("{e:?}"));
                            out.remove_connection(id);
                            return;
                        }
                    }
                }
            }
        }
    }
    out.remove_connection(id);
}
