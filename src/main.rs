//! `s3server`: load configuration, initialise logging, open the store, serve until a signal.

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;
use s3server::config::{self, Args, Settings};
use s3server::server::{Server, StartError, access_log};

fn init_tracing(level: &str) {
    // s3s logs every S3 error response at error level; our access log already records them.
    // (Targets match by string prefix: `s3s=off` would silence `s3server` too.)
    let directives = match level {
        "trace" | "debug" => level.to_owned(),
        _ => format!("{level},s3s::ops=off,s3s::service=off"),
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&directives)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if std::io::stderr().is_terminal() {
        builder.init();
    } else {
        builder.json().flatten_event(true).with_current_span(false).init();
        if tracing::enabled!(target: "access", tracing::Level::INFO) && !access_log::install_stderr() {
            tracing::warn!("could not start the access-log writer; logging requests through tracing");
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
        (Ok(mut term), Ok(mut int)) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = int.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

async fn run(settings: Settings) -> ExitCode {
    let server = match Server::start(&settings).await {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "start-up failed");
            eprintln!("s3server: {e}");
            // Bad TLS files are a configuration error, like a malformed config.json.
            let code = if matches!(e, StartError::Tls(_)) { 2 } else { 1 };
            return ExitCode::from(code);
        }
    };
    let addrs: Vec<String> = server.s3_addrs.iter().map(ToString::to_string).collect();
    let admin: Vec<String> = server.admin_addrs.iter().map(ToString::to_string).collect();
    tracing::info!(
        listen = %addrs.join(","),
        admin = %admin.join(","),
        data = %if settings.data_backend == config::Backend::File { settings.data_path.display().to_string() } else { "memory".into() },
        metadata = %if settings.metadata_backend == config::Backend::File { settings.metadata_path.display().to_string() } else { "memory".into() },
        region = %settings.region,
        "s3server listening on {}", addrs.join(", ")
    );
    wait_for_signal().await;
    tracing::info!("shutting down: draining in-flight requests");
    server.shutdown().await;
    access_log::flush();
    tracing::info!("stopped");
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args = Args::parse();
    let settings = match config::load(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("s3server: {e}");
            return ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(2));
        }
    };
    init_tracing(&settings.log_level);
    for w in &settings.warnings {
        tracing::warn!("{w}");
    }
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("s3server: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(run(settings))
}
