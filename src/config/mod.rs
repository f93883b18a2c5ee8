//! Start-up configuration, compatible with Zenko CloudServer 8.x.
//!
//! Sources, lowest to highest precedence: built-in defaults < `config.json` < command-line flags <
//! CloudServer environment variables. The last step matches what CloudServer's Docker image does
//! (its entrypoint rewrites config.json from the environment), so existing `docker run -e ...`
//! invocations keep their meaning.
//!
//! config.json is read into a `serde_json::Value` and only the keys we use are picked out: a
//! CloudServer file full of keys we have no use for (bucketd, vaultd, kms, ...) must still load.
//! Unknown keys become entries in [`Settings::warnings`] rather than errors, because the server
//! logs them only once tracing is set up, after this module has run.

mod authdata;
mod file;
mod net;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use file::FileConfig;
use net::Endpoint;

#[derive(clap::Parser, Debug, Clone, Default)]
#[command(name = "s3server", version, about = "S3-compatible object store (CloudServer drop-in)")]
pub struct Args {
    /// CloudServer-style config.json (env S3_CONFIG_FILE wins; default ./config.json if present)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// S3 port (overrides `port` in config.json)
    #[arg(long)]
    pub port: Option<u16>,
    /// Address to listen on: "ip:port" or just "ip"; repeatable or comma-separated
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<Vec<String>>,
    /// Directory for object data (env S3DATAPATH wins)
    #[arg(long, value_name = "DIR")]
    pub data_path: Option<PathBuf>,
    /// Directory for metadata (env S3METADATAPATH wins)
    #[arg(long, value_name = "DIR")]
    pub metadata_path: Option<PathBuf>,
    /// Storage backend for data and metadata: "file" or "mem" (env S3BACKEND wins)
    #[arg(long, value_name = "file|mem")]
    pub backend: Option<String>,
    /// authdata.json with the accounts and keys (env S3AUTH_CONFIG wins)
    #[arg(long, value_name = "FILE")]
    pub auth_config: Option<PathBuf>,
    /// Port of the admin listener: health checks and metrics
    #[arg(long)]
    pub metrics_port: Option<u16>,
    /// trace | debug | info | warn | error (env LOG_LEVEL wins)
    #[arg(long, value_name = "LEVEL")]
    pub log_level: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    File,
    Mem,
}

/// Debug is written by hand so that logging the settings never prints a secret key.
#[derive(Clone)]
pub struct Account {
    pub name: String,
    pub email: String,
    pub arn: String,
    pub canonical_id: String,
    pub shortid: String,
    /// (access key id, secret access key)
    pub keys: Vec<(String, String)>,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let keys: Vec<(&str, &str)> = self.keys.iter().map(|(access, _)| (access.as_str(), "<redacted>")).collect();
        f.debug_struct("Account")
            .field("name", &self.name)
            .field("email", &self.email)
            .field("arn", &self.arn)
            .field("canonical_id", &self.canonical_id)
            .field("shortid", &self.shortid)
            .field("keys", &keys)
            .finish()
    }
}

/// TLS files; relative paths in config.json are resolved against the config file's directory.
#[derive(Debug, Clone)]
pub struct TlsPaths {
    pub key: PathBuf,
    pub cert: PathBuf,
    pub ca: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub listen: Vec<SocketAddr>,
    pub metrics_listen: Vec<SocketAddr>,
    pub data_backend: Backend,
    pub metadata_backend: Backend,
    pub data_path: PathBuf,
    pub metadata_path: PathBuf,
    /// Lowercased host names without port that may carry a virtual-hosted bucket name.
    pub rest_endpoints: Vec<String>,
    pub region: String,
    pub accounts: Vec<Account>,
    pub tls: Option<TlsPaths>,
    /// CIDRs (or bare IPs) allowed to query health checks; loopback is always included.
    pub health_allow_from: Vec<String>,
    pub log_level: String,
    pub mpu_testing: bool,
    pub presign_max_expiry_secs: u64,
    /// Non-fatal problems, to be logged once tracing is initialised.
    pub warnings: Vec<String>,
    pub config_file: Option<PathBuf>,
    pub auth_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {}", .path.display(), io_reason(.source))]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}:{column}: {msg}", .path.display())]
    Syntax { path: PathBuf, line: usize, column: usize, msg: String },
    /// A well-formed file with a value we cannot use.
    #[error("{}: {msg}", .path.display())]
    Invalid { path: PathBuf, msg: String },
    #[error("environment variable {var}: {msg}")]
    Env { var: &'static str, msg: String },
    #[error("--{flag}: {msg}")]
    Flag { flag: &'static str, msg: String },
    /// Settings that are fine one by one but cannot work together.
    #[error("{0}")]
    Conflict(String),
}

impl ConfigError {
    /// Exit status for a configuration error (2, like a usage error).
    pub fn exit_code(&self) -> i32 {
        2
    }
}

/// io::Error's Display ends with " (os error 2)", which is noise in a start-up message.
fn io_reason(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error ") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

pub const DEFAULT_PORT: u16 = 8000;
pub const DEFAULT_METRICS_PORT: u16 = 8002;
pub const DEFAULT_REGION: &str = "us-east-1";
/// AWS caps presigned URLs at 7 days; CloudServer does too.
pub const MAX_PRESIGN_EXPIRY_SECS: u64 = 7 * 24 * 3600;
/// CloudServer's defaultHealthChecks; it appends configured entries to these.
const DEFAULT_ALLOW_FROM: [&str; 2] = ["127.0.0.1/8", "::1"];
const BUILTIN_ENDPOINTS: [&str; 3] = ["localhost", "127.0.0.1", "s3.amazonaws.com"];

/// Loads the configuration using the process environment.
pub fn load(args: &Args) -> Result<Settings, ConfigError> {
    load_with_env(args, &|name| std::env::var(name).ok())
}

/// Loads the configuration with `env` standing in for the process environment.
pub fn load_with_env(args: &Args, env: &dyn Fn(&str) -> Option<String>) -> Result<Settings, ConfigError> {
    // An empty base keeps relative paths relative to the current directory, unchanged.
    load_in(args, env, Path::new(""))
}

/// The real loader; `base` is the directory that default and relative file names are looked up
/// in (the current directory in production, a temp dir in tests).
fn load_in(args: &Args, env: &dyn Fn(&str) -> Option<String>, base: &Path) -> Result<Settings, ConfigError> {
    // Like CloudServer (`if (process.env.X)`), a variable set to the empty string counts as unset.
    let env = |name: &str| env(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
    let mut warnings = Vec::new();

    let config_file = match env("S3_CONFIG_FILE").map(PathBuf::from).or_else(|| args.config.clone()) {
        Some(p) => Some(find_explicit(base, &p)),
        None => Some(base.join("config.json")).filter(|p| p.is_file()),
    };
    let file = match &config_file {
        Some(path) => file::parse_config_file(path, &mut warnings)?,
        None => FileConfig::default(),
    };

    let (listen, metrics_listen) = listeners(args, &file, &env)?;
    let (data_backend, metadata_backend) = backends(args, &env, &mut warnings)?;
    let data_path = env("S3DATAPATH")
        .map(PathBuf::from)
        .or_else(|| args.data_path.clone())
        .unwrap_or_else(|| PathBuf::from("./localData"));
    let metadata_path = env("S3METADATAPATH")
        .map(PathBuf::from)
        .or_else(|| args.metadata_path.clone())
        .unwrap_or_else(|| PathBuf::from("./localMetadata"));
    let rest_endpoints = rest_endpoints(&file.rest_endpoints, env("ENDPOINT"));
    let (accounts, auth_file) = authdata::load_accounts(args, &env, base, &mut warnings)?;
    let health_allow_from = health_allow_from(file.allow_from, env("HEALTHCHECKS_ALLOWFROM"))?;
    let log_level = log_level(file.log_level, args, env("LOG_LEVEL"), &mut warnings)?;
    let mpu_testing =
        env("MPU_TESTING").is_some_and(|v| matches!(v.to_ascii_lowercase().as_str(), "yes" | "true" | "1"));
    let presign_max_expiry_secs = presign_expiry(env("PRE_SIGN_URL_EXPIRY"), &mut warnings)?;
    // REMOTE_MANAGEMENT_DISABLE is accepted and ignored: there is no remote management to disable.

    Ok(Settings {
        listen,
        metrics_listen,
        data_backend,
        metadata_backend,
        data_path,
        metadata_path,
        rest_endpoints,
        region: DEFAULT_REGION.to_string(),
        accounts,
        tls: file.tls,
        health_allow_from,
        log_level,
        mpu_testing,
        presign_max_expiry_secs,
        warnings,
        config_file,
        auth_file,
    })
}

/// An explicitly named file. A relative name that does not exist is also looked for under
/// `conf/`, as CloudServer's findConfigFile does (S3_CONFIG_FILE=config.json finds conf/...).
fn find_explicit(base: &Path, p: &Path) -> PathBuf {
    let direct = base.join(p);
    if p.is_relative() && !direct.exists() {
        let in_conf = base.join("conf").join(p);
        if in_conf.exists() {
            return in_conf;
        }
    }
    direct
}

/// The S3 and metrics listeners. Flags replace config.json, LISTEN_ADDR replaces both (for the
/// S3 listener only, as in CloudServer), and a bare IP takes the effective port.
fn listeners(
    args: &Args,
    file: &FileConfig,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Vec<SocketAddr>, Vec<SocketAddr>), ConfigError> {
    let port = args.port.or(file.port).unwrap_or(DEFAULT_PORT);
    let mut listen = match &args.listen {
        Some(list) => parse_flag_endpoints("listen", list)?,
        None => file.listen_on.clone(),
    };
    if args.listen.is_none() && args.port.is_some() {
        // --port moves the configured listeners rather than discarding their addresses.
        listen.iter_mut().for_each(|e| e.port = args.port);
    }
    if let Some(addr) = env("LISTEN_ADDR") {
        // CloudServer's entrypoint turns LISTEN_ADDR into listenOn ["<addr>:8000"].
        let ep = net::parse_endpoint(&addr).map_err(|msg| ConfigError::Env { var: "LISTEN_ADDR", msg })?;
        listen = vec![ep];
    }
    let listen = net::to_socket_addrs(&listen, port);

    let metrics_port = args.metrics_port.or(file.metrics_port).unwrap_or(DEFAULT_METRICS_PORT);
    let mut metrics = file.metrics_listen_on.clone();
    if args.metrics_port.is_some() {
        metrics.iter_mut().for_each(|e| e.port = args.metrics_port);
    }
    let metrics = net::to_socket_addrs(&metrics, metrics_port);
    check_port_clash(&listen, &metrics)?;
    Ok((listen, metrics))
}

fn parse_flag_endpoints(flag: &'static str, list: &[String]) -> Result<Vec<Endpoint>, ConfigError> {
    list.iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.trim().is_empty())
        .map(|s| net::parse_endpoint(s).map_err(|msg| ConfigError::Flag { flag, msg }))
        .collect()
}

/// Two listeners on the same port and overlapping addresses would fail at bind time with a far
/// less helpful message.
fn check_port_clash(listen: &[SocketAddr], metrics: &[SocketAddr]) -> Result<(), ConfigError> {
    for a in listen {
        for m in metrics {
            if a.port() != 0 && a.port() == m.port() && net::addrs_overlap(a.ip(), m.ip()) {
                return Err(ConfigError::Conflict(format!(
                    "the S3 listener {a} and the metrics listener {m} use the same port; \
                     change `port` or `metricsPort`"
                )));
            }
        }
    }
    Ok(())
}

fn parse_backend(value: &str) -> Result<Backend, String> {
    match value.to_ascii_lowercase().as_str() {
        "file" => Ok(Backend::File),
        "mem" => Ok(Backend::Mem),
        "scality" | "cdmi" | "mongodb" | "multiple" => {
            Err(format!("backend `{value}` is a CloudServer backend this server does not provide; use file or mem"))
        }
        _ => Err(format!("unknown backend `{value}`; expected file or mem")),
    }
}

fn backends(
    args: &Args,
    env: &dyn Fn(&str) -> Option<String>,
    warnings: &mut Vec<String>,
) -> Result<(Backend, Backend), ConfigError> {
    let mut both = Backend::File;
    if let Some(b) = &args.backend {
        both = parse_backend(b).map_err(|msg| ConfigError::Flag { flag: "backend", msg })?;
    }
    if let Some(b) = env("S3BACKEND") {
        both = parse_backend(&b).map_err(|msg| ConfigError::Env { var: "S3BACKEND", msg })?;
    }
    let (mut data, mut metadata) = (both, both);
    if let Some(b) = env("S3DATA") {
        data = if b.eq_ignore_ascii_case("multiple") {
            // CloudServer's default: data goes to the bucket's location, which is the local file
            // backend in a stock setup. Refusing it would break documented `docker run` lines.
            warnings.push(
                "environment variable S3DATA=multiple: only the local file data backend exists here; using file"
                    .to_string(),
            );
            Backend::File
        } else {
            parse_backend(&b).map_err(|msg| ConfigError::Env { var: "S3DATA", msg })?
        };
    }
    if let Some(b) = env("S3METADATA") {
        metadata = parse_backend(&b).map_err(|msg| ConfigError::Env { var: "S3METADATA", msg })?;
    }
    Ok((data, metadata))
}

/// The built-in hosts, then config.json's restEndpoints, then ENDPOINT, without duplicates.
fn rest_endpoints(from_file: &[String], from_env: Option<String>) -> Vec<String> {
    let from_env = from_env.unwrap_or_default();
    let hosts =
        BUILTIN_ENDPOINTS.iter().copied().chain(from_file.iter().map(String::as_str)).chain(from_env.split(','));
    let mut out: Vec<String> = Vec::new();
    for host in hosts {
        if let Some(h) = net::normalize_host(host)
            && !out.contains(&h)
        {
            out.push(h);
        }
    }
    out
}

/// Loopback, then either HEALTHCHECKS_ALLOWFROM or config.json's list (the environment wins).
fn health_allow_from(from_file: Vec<String>, from_env: Option<String>) -> Result<Vec<String>, ConfigError> {
    let extra = match from_env {
        Some(list) => {
            let list: Vec<String> = list.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect();
            for cidr in &list {
                net::validate_cidr(cidr).map_err(|msg| ConfigError::Env { var: "HEALTHCHECKS_ALLOWFROM", msg })?;
            }
            list
        }
        None => from_file,
    };
    let mut out: Vec<String> = DEFAULT_ALLOW_FROM.iter().map(|s| s.to_string()).collect();
    for cidr in extra {
        if !out.contains(&cidr) {
            out.push(cidr);
        }
    }
    Ok(out)
}

fn log_level(
    from_file: Option<String>,
    args: &Args,
    from_env: Option<String>,
    warnings: &mut Vec<String>,
) -> Result<String, ConfigError> {
    let mut level = from_file.unwrap_or_else(|| "info".to_string());
    if let Some(l) = &args.log_level {
        level =
            normalize_level(l).ok_or_else(|| ConfigError::Flag { flag: "log-level", msg: bad_level(l) })?.to_string();
    }
    if let Some(l) = from_env {
        // CloudServer's entrypoint ignores a bad LOG_LEVEL with a message; so do we.
        match normalize_level(&l) {
            Some(l) => level = l.to_string(),
            None => warnings.push(format!("environment variable LOG_LEVEL: {}; ignored", bad_level(&l))),
        }
    }
    Ok(level)
}

/// Maps werelogs level names onto tracing's.
fn normalize_level(level: &str) -> Option<&'static str> {
    Some(match level.trim().to_ascii_lowercase().as_str() {
        "trace" => "trace",
        "debug" => "debug",
        "info" => "info",
        "warn" | "warning" => "warn",
        // tracing has no level above error.
        "error" | "fatal" => "error",
        _ => return None,
    })
}

fn bad_level(level: &str) -> String {
    format!("unknown log level `{level}`; expected trace, debug, info, warn or error")
}

/// PRE_SIGN_URL_EXPIRY is in milliseconds in CloudServer; we keep seconds.
fn presign_expiry(value: Option<String>, warnings: &mut Vec<String>) -> Result<u64, ConfigError> {
    let Some(v) = value else {
        return Ok(MAX_PRESIGN_EXPIRY_SECS);
    };
    let err = |msg: String| ConfigError::Env { var: "PRE_SIGN_URL_EXPIRY", msg };
    let ms: u64 = v.parse().map_err(|_| err(format!("`{v}` is not a number of milliseconds")))?;
    if ms == 0 {
        return Err(err("must be greater than 0 milliseconds".to_string()));
    }
    let secs = ms.div_ceil(1000);
    if secs > MAX_PRESIGN_EXPIRY_SECS {
        warnings.push(format!(
            "environment variable PRE_SIGN_URL_EXPIRY: {ms} ms is more than 7 days; capped at 604800000"
        ));
        return Ok(MAX_PRESIGN_EXPIRY_SECS);
    }
    Ok(secs)
}
