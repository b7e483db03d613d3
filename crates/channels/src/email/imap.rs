//! Reading a mailbox over IMAP: log in, take every message in the folder oldest first, hand
//! its bytes to `ingest`, and only once that has stored it move it to the done folder (MOVE,
//! or COPY + \Deleted + EXPUNGE where MOVE is missing). With nothing left, IDLE until the
//! server says something arrived (or 5 minutes pass, or the service stops).
//! Over TLS (port 993), STARTTLS, or plain where the mailbox says so (`imap_security`).

use super::tls::MailStream;
use async_imap::extensions::idle::IdleResponse;
use futures_util::TryStreamExt;
use hotline_model::EmailAccount;
use std::future::Future;
use std::time::Duration;
use tokio::net::TcpStream;

type Session = async_imap::Session<MailStream>;

#[derive(Debug, thiserror::Error)]
pub enum ImapError {
    #[error("cannot reach {0}: {1}")]
    Connect(String, std::io::Error),
    #[error("login refused: {0}")]
    Login(String),
    #[error("IMAP: {0}")]
    Imap(#[from] async_imap::error::Error),
    #[error("timed out")]
    Timeout,
    #[error("{0}")]
    Tls(String),
}

async fn timed<T, E: Into<ImapError>>(
    secs: u64,
    f: impl Future<Output = Result<T, E>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(Duration::from_secs(secs), f).await {
        Ok(r) => r.map_err(Into::into),
        Err(_) => Err(ImapError::Timeout),
    }
}

pub async fn connect(a: &EmailAccount) -> Result<Session, ImapError> {
    let addr = format!("{}:{}", a.imap_host, a.imap_port);
    let tcp = tokio::time::timeout(Duration::from_secs(15), TcpStream::connect(&addr))
        .await
        .map_err(|_| ImapError::Timeout)?
        .map_err(|e| ImapError::Connect(addr.clone(), e))?;
    let host = a.imap_host.as_str();
    let mut client = match a.imap_security.as_str() {
        "tls" => {
            let tls = timed(15, async {
                MailStream::tls(tcp, host, &a.tls_ca_pem)
                    .await
                    .map_err(ImapError::Tls)
            })
            .await?;
            async_imap::Client::new(tls)
        }
        _ => async_imap::Client::new(MailStream::Plain(tcp)),
    };
    // The server's greeting.
    timed(15, async {
        client
            .read_response()
            .await
            .map_err(|e| ImapError::Imap(e.into()))
    })
    .await?;
    if a.imap_security == "starttls" {
        // RFC 3501 6.2.1: STARTTLS, then the handshake; the server greets no more.
        timed(15, client.run_command_and_check_ok("STARTTLS", None)).await?;
        let MailStream::Plain(tcp) = client.into_inner() else {
            return Err(ImapError::Tls("STARTTLS on a TLS connection".into()));
        };
        let tls = timed(15, async {
            MailStream::tls(tcp, host, &a.tls_ca_pem)
                .await
                .map_err(ImapError::Tls)
        })
        .await?;
        client = async_imap::Client::new(tls);
    }
    let mut session = tokio::time::timeout(
        Duration::from_secs(30),
        client.login(&a.imap_user, &a.imap_password),
    )
    .await
    .map_err(|_| ImapError::Timeout)?
    .map_err(|(e, _)| ImapError::Login(e.to_string()))?;
    timed(30, session.select(&a.imap_folder)).await?;
    // The done folder: created once; "already exists" is fine.
    let _ = timed(30, session.create(&a.done_folder)).await;
    Ok(session)
}

/// The UIDs in the selected folder, oldest first.
pub async fn pending(session: &mut Session) -> Result<Vec<u32>, ImapError> {
    let mut uids: Vec<u32> = timed(60, session.uid_search("ALL"))
        .await?
        .into_iter()
        .collect();
    uids.sort_unstable();
    Ok(uids)
}

/// One message's bytes (`None`: gone meanwhile).
pub async fn fetch(session: &mut Session, uid: u32) -> Result<Option<Vec<u8>>, ImapError> {
    let fetched: Vec<_> = timed(300, async {
        let stream = session.uid_fetch(uid.to_string(), "BODY.PEEK[]").await?;
        stream.try_collect::<Vec<_>>().await
    })
    .await?;
    Ok(fetched
        .iter()
        .find(|f| f.uid == Some(uid))
        .and_then(|f| f.body())
        .map(<[u8]>::to_vec))
}

/// Moves a stored message out of the way.
pub async fn done(
    session: &mut Session,
    uid: u32,
    folder: &str,
    can_move: bool,
) -> Result<(), ImapError> {
    if can_move {
        timed(60, session.uid_mv(uid.to_string(), folder)).await?;
    } else {
        timed(60, session.uid_copy(uid.to_string(), folder)).await?;
        timed(60, async {
            let s = session
                .uid_store(uid.to_string(), "+FLAGS.SILENT (\\Deleted)")
                .await?;
            s.try_collect::<Vec<_>>().await
        })
        .await?;
        timed(60, async {
            let s = session.uid_expunge(uid.to_string()).await?;
            s.try_collect::<Vec<_>>().await
        })
        .await?;
    }
    Ok(())
}

pub async fn can_move(session: &mut Session) -> bool {
    match timed(30, session.capabilities()).await {
        Ok(c) => c.has_str("MOVE"),
        Err(_) => false,
    }
}

/// Waits for news in the folder: IDLE where the server has it, else a 20 s pause. Returns the
/// session to use next.
pub async fn wait(
    session: Session,
    idle: bool,
    stop: &mut tokio::sync::watch::Receiver<bool>,
) -> Result<Session, ImapError> {
    if !idle {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(20)) => {}
            _ = stop.changed() => {}
        }
        return Ok(session);
    }
    let mut handle = session.idle();
    timed(30, handle.init()).await?;
    let (fut, interrupt) = handle.wait_with_timeout(Duration::from_secs(300));
    let r = tokio::select! {
        r = fut => r.map(|_: IdleResponse| ()),
        _ = stop.changed() => { drop(interrupt); Ok(()) }
    };
    r?;
    timed(30, handle.done()).await
}
