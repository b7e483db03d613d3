//! `hotline`: the binary. It reads top to bottom: command line and configuration, logging,
//! database and migrations, demo data, listeners, then an orderly shutdown. It wires the crates
//! together and holds no business logic of its own.

#![allow(
    clippy::print_stdout,
    reason = "the binary prints its start-up banner and command results"
)]

mod config;
mod logging;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use config::{display_url, parse_addr, FileConfig, PortRange};
use hotline_model::Role;
use hotline_store::{ConnectOptions, NewTenant, NewUser, Store, StoreError};
use std::net::SocketAddr;
use std::path::PathBuf;

#[derive(Parser)]
#[command(
    name = "hotline",
    version,
    about = "Hotline: an open-source IP contact center"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the contact center.
    Serve(ServeArgs),
    /// Apply database migrations and exit.
    Migrate(StoreArgs),
    /// Manage users.
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
    /// Manage tenants (client companies).
    Tenant {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// Move data between databases.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
}

#[derive(Args, Clone)]
struct StoreArgs {
    /// Folder for the embedded database and recordings.
    #[arg(long, env = "HOTLINE_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// `sqlite://PATH` or `postgres://USER:PASS@HOST:PORT/DB`; default: SQLite in the data folder.
    #[arg(long, env = "HOTLINE_DATABASE_URL")]
    database_url: Option<String>,
    /// TOML configuration file.
    #[arg(long, env = "HOTLINE_CONFIG")]
    config: Option<PathBuf>,
    /// Log filter, e.g. `info` or `hotline_api=debug`.
    #[arg(long, env = "HOTLINE_LOG")]
    log: Option<String>,
}

#[derive(Args)]
struct ServeArgs {
    #[command(flatten)]
    store: StoreArgs,
    /// HTTP listen address for the API and web UI.
    #[arg(long, env = "HOTLINE_HTTP")]
    http: Option<String>,
    /// SIP listen address (UDP and TCP), used by the telephony layer.
    #[arg(long, env = "HOTLINE_SIP")]
    sip: Option<String>,
    /// SMTP listen address for direct delivery to the mailboxes (off when not given).
    #[arg(long, env = "HOTLINE_SMTP")]
    smtp: Option<String>,
    /// UDP port range for RTP media, LO-HI.
    #[arg(long, env = "HOTLINE_RTP_PORTS")]
    rtp_ports: Option<PortRange>,
    /// Create the demo tenant with users, customers and history (once; later starts keep it).
    #[arg(long, env = "HOTLINE_DEMO", num_args = 0..=1, default_missing_value = "true")]
    demo: Option<bool>,
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a user to a tenant. The password comes from HOTLINE_USER_PASSWORD, or is generated and printed.
    Add {
        #[command(flatten)]
        store: StoreArgs,
        /// Tenant slug.
        #[arg(long, default_value = "main")]
        tenant: String,
        #[arg(long)]
        username: String,
        #[arg(long)]
        display_name: Option<String>,
        /// admin, supervisor or agent.
        #[arg(long, default_value = "agent")]
        role: Role,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Add a tenant (a client company of an outsourcing center).
    Add {
        #[command(flatten)]
        store: StoreArgs,
        #[arg(long)]
        slug: String,
        #[arg(long)]
        name: String,
        /// ISO 3166 region for national phone numbers.
        #[arg(long, default_value = "RU")]
        region: String,
        #[arg(long, default_value = "Europe/Moscow")]
        timezone: String,
    },
    /// List tenants.
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
}

#[derive(Subcommand)]
enum StoreCommand {
    /// Copy every record from one database into another, empty one (e.g. SQLite to PostgreSQL).
    Copy {
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
    },
}

/// Settings after flags, environment, file and defaults are merged.
struct Settings {
    data_dir: PathBuf,
    database_url: String,
    log: String,
    file: FileConfig,
}

fn settings(args: &StoreArgs) -> Result<Settings> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let data_dir = args
        .data_dir
        .clone()
        .or_else(|| file.data_dir.clone())
        .unwrap_or_else(|| PathBuf::from("hotline-data"));
    let database_url = match args
        .database_url
        .clone()
        .or_else(|| file.database_url.clone())
    {
        Some(url) => url,
        None => format!("sqlite://{}", data_dir.join("hotline.db").display()),
    };
    let log = args
        .log
        .clone()
        .or_else(|| file.log.clone())
        .unwrap_or_else(|| "info".into());
    Ok(Settings {
        data_dir,
        database_url,
        log,
        file,
    })
}

async fn open_store(s: &Settings) -> Result<Store> {
    if s.database_url.starts_with("sqlite:") {
        std::fs::create_dir_all(&s.data_dir)
            .with_context(|| format!("cannot create the data folder {}", s.data_dir.display()))?;
    }
    open_url(&s.database_url).await
}

async fn open_url(url: &str) -> Result<Store> {
    let store = match Store::connect(url, &ConnectOptions::default()).await {
        Ok(s) => s,
        Err(StoreError::Unavailable(why)) => {
            bail!("cannot reach the database at {}: {why}", display_url(url))
        }
        Err(e) => bail!("cannot open the database {}: {e}", display_url(url)),
    };
    store
        .migrate()
        .await
        .with_context(|| format!("cannot migrate the database at {}", display_url(url)))?;
    Ok(store)
}

fn random_password() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("hotline: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Serve(args) => serve(args).await,
        Command::Migrate(args) => {
            let s = settings(&args)?;
            logging::init(&s.log);
            let store = open_store(&s).await?;
            println!(
                "database {} is at schema version {}",
                display_url(&s.database_url),
                store.schema_version().await?
            );
            store.close().await;
            Ok(())
        }
        Command::User {
            command:
                UserCommand::Add {
                    store,
                    tenant,
                    username,
                    display_name,
                    role,
                },
        } => {
            let s = settings(&store)?;
            logging::init(&s.log);
            let db = open_store(&s).await?;
            let t = db.get_tenant_by_slug(&tenant).await.map_err(|_| {
                anyhow::anyhow!("no tenant with slug {tenant:?} (see `hotline tenant list`)")
            })?;
            let (password, generated) = match std::env::var("HOTLINE_USER_PASSWORD") {
                Ok(p) => (p, false),
                Err(_) => (random_password(), true),
            };
            let user = db
                .create_user(
                    t.id,
                    &NewUser {
                        display_name: display_name.unwrap_or_else(|| username.clone()),
                        username,
                        role,
                        password: password.clone(),
                    },
                )
                .await?;
            println!(
                "user {} ({}) added to tenant {}",
                user.username, user.role, t.slug
            );
            if generated {
                println!("password: {password}");
            }
            db.close().await;
            Ok(())
        }
        Command::Tenant {
            command:
                TenantCommand::Add {
                    store,
                    slug,
                    name,
                    region,
                    timezone,
                },
        } => {
            let s = settings(&store)?;
            logging::init(&s.log);
            let db = open_store(&s).await?;
            let t = db
                .create_tenant(&NewTenant {
                    name,
                    slug,
                    default_region: region,
                    timezone,
                })
                .await?;
            println!("tenant {} (id {}) added", t.slug, t.id);
            db.close().await;
            Ok(())
        }
        Command::Tenant {
            command: TenantCommand::List { store },
        } => {
            let s = settings(&store)?;
            logging::init(&s.log);
            let db = open_store(&s).await?;
            for t in db.list_tenants().await? {
                println!("{}\t{}\t{}\t{}", t.id, t.slug, t.default_region, t.name);
            }
            db.close().await;
            Ok(())
        }
        Command::Store {
            command: StoreCommand::Copy { from, to },
        } => {
            logging::init("info");
            let source = open_url(&from).await?;
            let target = open_url(&to).await?;
            let report = source.copy_to(&target).await.with_context(|| {
                format!(
                    "copy from {} to {} failed",
                    display_url(&from),
                    display_url(&to)
                )
            })?;
            for (table, rows) in report {
                println!("{table}: {rows} rows");
            }
            source.close().await;
            target.close().await;
            println!("copied {} to {}", display_url(&from), display_url(&to));
            Ok(())
        }
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let s = settings(&args.store)?;
    logging::init(&s.log);
    let http = parse_addr(
        "HTTP",
        &args
            .http
            .clone()
            .or_else(|| s.file.http.clone())
            .unwrap_or_else(|| "127.0.0.1:8080".into()),
    )?;
    let sip = parse_addr(
        "SIP",
        &args
            .sip
            .clone()
            .or_else(|| s.file.sip.clone())
            .unwrap_or_else(|| "0.0.0.0:5060".into()),
    )?;
    let smtp = match args.smtp.clone().or_else(|| s.file.smtp.clone()) {
        Some(a) => Some(parse_addr("SMTP", &a)?),
        None => None,
    };
    let rtp = match (args.rtp_ports, &s.file.rtp_ports) {
        (Some(r), _) => r,
        (None, Some(text)) => text
            .parse()
            .map_err(|e| anyhow::anyhow!("rtp_ports in the config file: {e}"))?,
        (None, None) => PortRange {
            lo: 10000,
            hi: 20000,
        },
    };
    let demo = args.demo.or(s.file.demo).unwrap_or(false);

    // Bind before touching the database, so a busy port fails fast and says so.
    let listener = tokio::net::TcpListener::bind(http).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::AddrInUse => anyhow::anyhow!("cannot listen on {http} for HTTP: the address is in use; stop the other program or choose another with --http"),
        _ => anyhow::anyhow!("cannot listen on {http} for HTTP: {e}"),
    })?;
    let store = open_store(&s).await?;
    // Tenants first: with one tenant, SIP phones may register under any domain (the only
    // tenant is the realm), which the SIP service decides when it starts.
    let login = first_login(&store, demo).await?;
    let mut sip_config = hotline_telephony::SipConfig::new(sip);
    if s.file.sip_digest_sha256.unwrap_or(false) {
        use hotline_sip::digest::Algorithm;
        sip_config.digest_algorithms = vec![Algorithm::Sha256, Algorithm::Md5];
    }
    sip_config.default_realm = s.file.sip_default_realm.clone();
    if let Some(path) = &s.file.lookup_ca_file {
        let pem = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read lookup_ca_file {}", path.display()))?;
        if let Err(why) = hotline_tls::parse_ca(&pem) {
            bail!("lookup_ca_file {}: {why}", path.display());
        }
        sip_config.lookup_ca_pem = pem;
    }
    let mut media = hotline_telephony::media::MediaConfig::new(rtp.lo..=rtp.hi, &s.data_dir);
    media.io_uring = s.file.media_io_uring.unwrap_or(true);
    sip_config.media = Some(media);
    let sip_service = hotline_telephony::SipService::start(sip_config, store.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    tracing::info!(database = %display_url(&s.database_url), version = store.schema_version().await?, "database ready");

    // Routing is rebuilt from its stored decisions before anyone can log in.
    let (routing_commands, mut commands_rx) = tokio::sync::mpsc::channel(1024);
    let acd = hotline_acd::Acd::start(store.clone(), routing_commands)
        .await
        .context("cannot start routing")?;
    // Voice contacts' offers ring agents' phones; e-mail's go to the desks. Routing's other
    // commands name only the contact: whoever does not hold it ignores it.
    sip_service.attach_routing(acd.link());
    let voice = sip_service.routing_port();
    let attachments = s.data_dir.join("attachments");
    let email = hotline_channels::email::EmailService::start(
        store.clone(),
        acd.link(),
        attachments.clone(),
    );
    let smtp_bound = match smtp {
        Some(addr) => Some(
            email
                .listen_smtp(addr, "hotline")
                .await
                .with_context(|| format!("cannot listen for SMTP on {addr}"))?,
        ),
        None => None,
    };
    let chat =
        hotline_channels::chat::ChatService::start(store.clone(), acd.link(), attachments.clone());
    let written = email.clone();
    let chats = chat.clone();
    tokio::spawn(async move {
        while let Some(cmd) = commands_rx.recv().await {
            use hotline_model::Channel;
            use hotline_routing::Command;
            match &cmd {
                // Forms are answered by e-mail, like mail.
                Command::Offer {
                    channel: Channel::Email | Channel::Form,
                    ..
                } => written.command(cmd),
                Command::Offer {
                    channel: Channel::Chat,
                    ..
                } => chats.command(cmd),
                Command::Offer {
                    channel: Channel::Voice,
                    ..
                } => voice.command(cmd),
                _ => {
                    written.command(cmd.clone());
                    chats.command(cmd.clone());
                    voice.command(cmd);
                }
            }
        }
    });

    let mut config = hotline_api::ApiConfig::default();
    if let Some(h) = s.file.session_hours {
        config.session_ttl = time_hours(h)?;
    }
    config.secure_cookies = s.file.secure_cookies.unwrap_or(false);
    if let Some(n) = s.file.public_requests_per_10_minutes {
        config.public_max_requests = n;
    }
    let state = hotline_api::AppState::new(store.clone(), config)
        .with_routing(acd.link())
        .with_dialer(std::sync::Arc::new(SipDialer(sip_service.dialer())))
        .with_recordings(s.data_dir.join("recordings"))
        .with_mailer(std::sync::Arc::new(EmailMailer(email.clone())), attachments)
        .with_chat(chat.clone());
    // Screen pops and the other news calls and mailboxes have for the desks go out as live
    // events.
    forward_notices(sip_service.notices(), state.clone(), "desk", |n| {
        hotline_api::LiveEvent::new(n.tenant_id, n.agent_id, n.kind, n.data)
    });
    forward_notices(email.notices(), state.clone(), "e-mail", |n| {
        hotline_api::LiveEvent::new(n.tenant_id, n.agent_id, n.kind, n.data)
    });
    let app = hotline_api::router(state);

    let shown = if http.ip().is_unspecified() {
        SocketAddr::from(([127, 0, 0, 1], http.port()))
    } else {
        http
    };
    println!("Hotline {} is running.", env!("CARGO_PKG_VERSION"));
    println!("  Workplace: http://{shown}/  (agents, supervisors, admins; Russian and English)");
    println!("  API:       http://{shown}/api/v1  (OpenAPI: http://{shown}/api/v1/openapi.json, health: /healthz, metrics: /metrics)");
    println!("  Log in:    POST http://{shown}/api/v1/auth/login {{\"username\": \"...\", \"password\": \"...\"}}");
    for line in login {
        println!("  {line}");
    }
    if demo {
        if let Ok(t) = store
            .get_tenant_by_slug(hotline_store::demo::DEMO_SLUG)
            .await
        {
            if let Some(site) = store.list_sites(t.id).await?.first() {
                println!(
                    "  Chat:      <script src=\"http://{shown}/chat/widget.js\" data-site=\"{}\" async></script>  (the widget: put it on any page)",
                    site.key
                );
            }
        }
    }
    if let Some(a) = smtp_bound {
        println!("  SMTP:      {a} takes mail for the mailboxes' addresses (direct delivery)");
    }
    println!("  Database:  {}", display_url(&s.database_url));
    println!(
        "  SIP:       udp/tcp {} (agents' phones register as EXTENSION@{}, password set per agent)",
        sip_service.udp_addr(),
        if sip_service.udp_addr().ip().is_unspecified() {
            "this-host".to_string()
        } else {
            sip_service.udp_addr().ip().to_string()
        }
    );
    println!(
        "  RTP {rtp}: calls' media is anchored here; recordings go to {}",
        s.data_dir.join("recordings").display()
    );

    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await
    .context("HTTP server failed")?;
    tracing::info!(
        "HTTP server stopped; storing routing's last decisions, then closing the database"
    );
    chat.stop();
    email.stop().await;
    sip_service.stop().await;
    acd.stop().await;
    store.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Publishes a service's notices as live events until the service stops.
fn forward_notices<N: Clone + Send + 'static>(
    mut notices: tokio::sync::broadcast::Receiver<N>,
    live: hotline_api::AppState,
    what: &'static str,
    event: fn(N) -> hotline_api::LiveEvent,
) {
    tokio::spawn(async move {
        loop {
            match notices.recv().await {
                Ok(n) => live.publish(event(n)),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, what, "notices for the desks were dropped");
                }
                Err(_) => break,
            }
        }
    });
}

/// E-mail replies from the API, sent by the e-mail service.
struct EmailMailer(hotline_channels::email::EmailService);

impl hotline_api::Mailer for EmailMailer {
    fn reply(
        &self,
        tenant_id: i64,
        interaction_id: i64,
        author: String,
        draft: hotline_api::ReplyDraft,
    ) -> futures_util::future::BoxFuture<
        'static,
        Result<hotline_model::Message, hotline_api::MailRefusal>,
    > {
        use hotline_channels::email::{Outgoing, SendError};
        let service = self.0.clone();
        Box::pin(async move {
            let out = Outgoing {
                text: draft.text,
                html: draft.html,
                to: draft.to,
                attachments: draft.attachments,
            };
            service
                .reply(tenant_id, interaction_id, &author, out)
                .await
                .map_err(|e| match e {
                    SendError::Refused(code, message) => hotline_api::MailRefusal { code, message },
                    SendError::Store(hotline_store::StoreError::Invalid(e)) => {
                        hotline_api::MailRefusal {
                            code: "invalid_mail",
                            message: e.to_string(),
                        }
                    }
                    SendError::Store(e) => hotline_api::MailRefusal {
                        code: "email_unavailable",
                        message: e.to_string(),
                    },
                })
        })
    }
}

/// Click-to-call from the API, carried out by telephony.
struct SipDialer(hotline_telephony::Dialer);

impl hotline_api::Dialer for SipDialer {
    fn control(
        &self,
        interaction_id: i64,
        command: hotline_model::CallControl,
    ) -> futures_util::future::BoxFuture<'static, Result<(), hotline_api::DialRefusal>> {
        use hotline_telephony::TransferError;
        let dialer = self.0.clone();
        Box::pin(async move {
            dialer
                .control(interaction_id, command)
                .await
                .map_err(|e| hotline_api::DialRefusal {
                    code: match e {
                        TransferError::NotLive => "call_not_live",
                        TransferError::Refused(_) => "not_allowed_now",
                    },
                    message: e.to_string(),
                })
        })
    }

    fn click_to_call(
        &self,
        tenant_id: i64,
        agent_id: i64,
        number: String,
        customer_id: Option<i64>,
    ) -> futures_util::future::BoxFuture<'static, Result<i64, hotline_api::DialRefusal>> {
        use hotline_telephony::outbound::{ClickToCall, DialError};
        let dialer = self.0.clone();
        Box::pin(async move {
            let request = ClickToCall {
                tenant_id,
                agent_id,
                number,
                customer_id,
            };
            dialer.click_to_call(request).await.map_err(|e| {
                let code = match &e {
                    DialError::UnknownAgent => "unknown_agent",
                    DialError::BadNumber(_) => "invalid_phone",
                    DialError::NoRoute => "no_route",
                    DialError::NoMedia | DialError::Store(_) => "telephony_unavailable",
                };
                hotline_api::DialRefusal {
                    code,
                    message: e.to_string(),
                }
            })
        })
    }
}

fn time_hours(h: i64) -> Result<time::Duration> {
    if !(1..=24 * 30).contains(&h) {
        bail!("session_hours in the config file must be 1 to 720");
    }
    Ok(time::Duration::hours(h))
}

/// Users to tell about on start-up: the demo users, or the first admin of a fresh installation.
async fn first_login(store: &Store, demo: bool) -> Result<Vec<String>> {
    let (password, from_env) = match std::env::var("HOTLINE_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => (p, true),
        _ => (random_password(), false),
    };
    let shown = if from_env {
        "the password in HOTLINE_ADMIN_PASSWORD".to_string()
    } else {
        password.clone()
    };
    if demo {
        let exists = store
            .get_tenant_by_slug(hotline_store::demo::DEMO_SLUG)
            .await
            .is_ok();
        if exists && !from_env {
            // Keep the passwords printed at the first start; a new random one would lock people out.
            return Ok(vec![
                format!("Demo:      tenant \"{}\" (from an earlier start)", hotline_store::demo::DEMO_SLUG),
                "Users:     admin, supervisor, agent1, agent2, agent3".to_string(),
                "Password:  as printed at the first start; set HOTLINE_ADMIN_PASSWORD to choose a new one".to_string(),
            ]);
        }
        let report = store.seed_demo(&password).await?;
        let names: Vec<String> = report
            .users
            .iter()
            .map(|(u, r)| format!("{u} ({r})"))
            .collect();
        return Ok(vec![
            format!(
                "Demo:      tenant \"{}\"{}",
                hotline_store::demo::DEMO_SLUG,
                if report.created { ", just created" } else { "" }
            ),
            format!("Users:     {}", names.join(", ")),
            format!("Password:  {shown}  (for each of them; SIP phones of 1001-1003 too)"),
        ]);
    }
    if store.list_tenants().await?.is_empty() {
        let t = store
            .create_tenant(&NewTenant {
                name: "Main".into(),
                slug: "main".into(),
                default_region: "RU".into(),
                timezone: "Europe/Moscow".into(),
            })
            .await?;
        store
            .create_user(
                t.id,
                &NewUser {
                    username: "admin".into(),
                    display_name: "Administrator".into(),
                    role: Role::Admin,
                    password,
                },
            )
            .await?;
        return Ok(vec![format!(
            "First start: tenant \"main\" with user admin, password {shown} (shown once)"
        )]);
    }
    Ok(vec![
        "Users:     as created before (`hotline user add` adds one)".to_string(),
    ])
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested");
}
