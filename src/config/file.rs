//! config.json: CloudServer's main configuration file, read as a `serde_json::Value` so that keys
//! we have no use for never stop it from loading.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use super::net::{self, Endpoint};
use super::{ConfigError, TlsPaths, bad_level, normalize_level};

/// Top-level config.json keys that we read.
const USED_KEYS: &[&str] = &[
    "port",
    "listenOn",
    "metricsPort",
    "metricsListenOn",
    "restEndpoints",
    "websiteEndpoints",
    "certFilePaths",
    "healthChecks",
    "log",
    "requests",
];

/// CloudServer keys that configure features or daemons we do not have (clustering, remote
/// metadata, KMS, utapi, ...). Accepted silently so that an existing config.json loads unchanged.
const CLOUDSERVER_KEYS: &[&str] = &[
    "apiBodySizeLimits",
    "backbeat",
    "bucketd",
    "bucketNotificationDestinations",
    "bypassMaxPutObjectSize",
    "capabilities",
    "cdmi",
    "clusters",
    "dataClient",
    "dataDaemon",
    "defaultEncryptionKeyPerAccount",
    "enableDirectToCold",
    "enableVeeamRoute",
    "externalBackends",
    "globalEncryptionEnabled",
    "instanceId",
    "integrityChecks",
    "internalListenOn",
    "internalPort",
    "kmip",
    "kms",
    "kmsAWS",
    "kmsHideScalityArn",
    "lifecycleRoleName",
    "localCache",
    "locationConstraints",
    "management",
    "managementAgent",
    "maxScannedLifecycleListingEntries",
    "metadataClient",
    "metadataDaemon",
    "mongodb",
    "multiObjectDeleteConcurrency",
    "multiObjectDeleteEnableOptimizations",
    "outboundProxy",
    "overlayVersion",
    "overrideObjectKeyByteLimit",
    "pfsClient",
    "pfsDaemon",
    "quota",
    "rateLimiting",
    "recordLog",
    "redis",
    "regions",
    "replicationEndpoints",
    "replicationGroupId",
    "reportToken",
    "scuba",
    "serverAccessLogs",
    "serverHeader",
    "sproxyd",
    "sseMigration",
    "supportedLifecycleRules",
    "testingMode",
    "usEastBehavior",
    "utapi",
    "vaultd",
    "workflowEngineOperator",
];

/// The values picked out of config.json.
#[derive(Debug, Default)]
pub(super) struct FileConfig {
    pub(super) port: Option<u16>,
    pub(super) listen_on: Vec<Endpoint>,
    pub(super) metrics_port: Option<u16>,
    pub(super) metrics_listen_on: Vec<Endpoint>,
    pub(super) rest_endpoints: Vec<String>,
    pub(super) tls: Option<TlsPaths>,
    pub(super) allow_from: Vec<String>,
    pub(super) log_level: Option<String>,
}

pub(super) fn read_text(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_path_buf(), source })
}

pub(super) fn parse_json(path: &Path, text: &str) -> Result<Value, ConfigError> {
    // Editors on Windows like to prepend a byte-order mark; JSON.parse-era files may have one.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    serde_json::from_str(text).map_err(|e| {
        // serde_json's Display appends " at line L column C"; we put the position up front.
        let full = e.to_string();
        let suffix = format!(" at line {} column {}", e.line(), e.column());
        let msg = full.strip_suffix(&suffix).unwrap_or(&full).to_string();
        ConfigError::Syntax { path: path.to_path_buf(), line: e.line(), column: e.column(), msg }
    })
}

/// Field accessor that treats JSON `null` like an absent key.
pub(super) fn field<'a>(obj: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    obj.get(key).filter(|v| !v.is_null())
}

/// Reads and validates config.json; the error messages name keys the way the file spells them.
pub(super) fn parse_config_file(path: &Path, warnings: &mut Vec<String>) -> Result<FileConfig, ConfigError> {
    let text = read_text(path)?;
    let root = parse_json(path, &text)?;
    let invalid = |msg: String| ConfigError::Invalid { path: path.to_path_buf(), msg };
    let Value::Object(obj) = root else {
        return Err(invalid("the top level must be a JSON object".to_string()));
    };
    for key in obj.keys() {
        if !USED_KEYS.contains(&key.as_str()) && !CLOUDSERVER_KEYS.contains(&key.as_str()) {
            warnings.push(format!("{}: unknown key `{key}` ignored", path.display()));
        }
    }
    let mut fc = FileConfig {
        port: port_field(&obj, "port").map_err(invalid)?,
        metrics_port: port_field(&obj, "metricsPort").map_err(invalid)?,
        listen_on: endpoints_field(&obj, "listenOn").map_err(invalid)?,
        metrics_listen_on: endpoints_field(&obj, "metricsListenOn").map_err(invalid)?,
        ..FileConfig::default()
    };

    if let Some(v) = field(&obj, "restEndpoints") {
        let map = v
            .as_object()
            .ok_or_else(|| invalid("`restEndpoints` must be an object mapping host names to locations".into()))?;
        for (host, location) in map {
            if !location.is_string() {
                return Err(invalid(format!("`restEndpoints.{host}` must be a string (a location name)")));
            }
            fc.rest_endpoints.push(host.clone());
        }
    }
    if let Some(v) = field(&obj, "websiteEndpoints")
        && string_list(v).is_none()
    {
        // Not used (no website hosting), so a bad value costs nothing but a warning.
        warnings.push(format!("{}: `websiteEndpoints` should be a list of strings; ignored", path.display()));
    }
    if let Some(v) = field(&obj, "certFilePaths") {
        fc.tls = tls_paths(path, v, warnings).map_err(invalid)?;
    }
    if let Some(tls) = &fc.tls {
        // Fail at start-up, with the path, rather than at the first TLS handshake.
        for p in [Some(&tls.key), Some(&tls.cert), tls.ca.as_ref()].into_iter().flatten() {
            std::fs::File::open(p).map_err(|source| ConfigError::Read { path: p.clone(), source })?;
        }
    }
    if let Some(v) = field(&obj, "healthChecks") {
        let hc = v.as_object().ok_or_else(|| invalid("`healthChecks` must be an object".into()))?;
        warn_unknown(path, "healthChecks", hc, &["allowFrom", "enableInternalRoute"], warnings);
        if let Some(list) = field(hc, "allowFrom") {
            let list = string_list(list)
                .ok_or_else(|| invalid("`healthChecks.allowFrom` must be a list of strings".into()))?;
            for cidr in &list {
                net::validate_cidr(cidr).map_err(|m| invalid(format!("`healthChecks.allowFrom`: {m}")))?;
            }
            fc.allow_from = list;
        }
    }
    if let Some(v) = field(&obj, "log") {
        let log = v.as_object().ok_or_else(|| invalid("`log` must be an object".into()))?;
        warn_unknown(path, "log", log, &["logLevel", "dumpLevel"], warnings);
        if let Some(level) = field(log, "logLevel") {
            let s = level.as_str().ok_or_else(|| invalid("`log.logLevel` must be a string".into()))?;
            let l = normalize_level(s).ok_or_else(|| invalid(format!("`log.logLevel`: {}", bad_level(s))))?;
            fc.log_level = Some(l.to_string());
        }
        // dumpLevel is werelogs' buffered-dump threshold; accepted, nothing to apply it to.
        if field(log, "dumpLevel").is_some_and(|d| !d.is_string()) {
            return Err(invalid("`log.dumpLevel` must be a string".into()));
        }
    }
    if let Some(v) = field(&obj, "requests") {
        check_requests(v, warnings, path).map_err(invalid)?;
    }
    Ok(fc)
}

fn warn_unknown(path: &Path, section: &str, obj: &Map<String, Value>, known: &[&str], warnings: &mut Vec<String>) {
    for key in obj.keys().filter(|k| !known.contains(&k.as_str())) {
        warnings.push(format!("{}: unknown key `{section}.{key}` ignored", path.display()));
    }
}

fn string_list(v: &Value) -> Option<Vec<String>> {
    v.as_array()?.iter().map(|e| e.as_str().map(str::to_string)).collect()
}

fn port_field(obj: &Map<String, Value>, key: &str) -> Result<Option<u16>, String> {
    match field(obj, key) {
        None => Ok(None),
        Some(v) => match v.as_u64() {
            Some(p @ 1..=65535) => Ok(u16::try_from(p).ok()),
            _ => Err(format!("`{key}` must be a number 1-65535")),
        },
    }
}

fn endpoints_field(obj: &Map<String, Value>, key: &str) -> Result<Vec<Endpoint>, String> {
    let Some(v) = field(obj, key) else {
        return Ok(Vec::new());
    };
    let list = string_list(v).ok_or_else(|| format!("`{key}` must be a list of \"ip:port\" strings"))?;
    list.iter()
        .map(|s| match net::parse_endpoint(s) {
            Ok(Endpoint { port: Some(0), .. }) => Err(format!("`{key}`: port in `{s}` must be 1-65535")),
            Ok(ep) => Ok(ep),
            Err(m) => Err(format!("`{key}`: {m}")),
        })
        .collect()
}

fn tls_paths(config: &Path, v: &Value, warnings: &mut Vec<String>) -> Result<Option<TlsPaths>, String> {
    let obj = v.as_object().ok_or("`certFilePaths` must be an object with `key`, `cert` and optional `ca`")?;
    warn_unknown(config, "certFilePaths", obj, &["key", "cert", "ca"], warnings);
    let get = |k: &str| -> Result<Option<PathBuf>, String> {
        match field(obj, k) {
            None => Ok(None),
            // CloudServer tests truthiness, so "" means "not given".
            Some(Value::String(s)) if s.is_empty() => Ok(None),
            Some(Value::String(s)) => {
                let dir = config.parent().unwrap_or(Path::new(""));
                Ok(Some(dir.join(s)))
            }
            Some(_) => Err(format!("certFilePaths: `{k}` must be a string (a file path)")),
        }
    };
    let (key, cert, ca) = (get("key")?, get("cert")?, get("ca")?);
    match (key, cert) {
        (Some(key), Some(cert)) => Ok(Some(TlsPaths { key, cert, ca })),
        (None, None) if ca.is_none() => Ok(None),
        _ => Err("certFilePaths: key and cert must both be given".to_string()),
    }
}

/// The reverse-proxy settings: validated as CloudServer does, though the server does not use them.
fn check_requests(v: &Value, warnings: &mut Vec<String>, path: &Path) -> Result<(), String> {
    let obj = v.as_object().ok_or("`requests` must be an object")?;
    if field(obj, "viaProxy").is_some_and(|b| !b.is_boolean()) {
        return Err("`requests.viaProxy` must be true or false".into());
    }
    if let Some(list) = field(obj, "trustedProxyCIDRs") {
        let list = string_list(list).ok_or("`requests.trustedProxyCIDRs` must be a list of strings")?;
        for cidr in &list {
            net::validate_cidr(cidr).map_err(|m| format!("`requests.trustedProxyCIDRs`: {m}"))?;
        }
    }
    for key in ["extractClientIPFromHeader", "extractProtocolFromHeader"] {
        if field(obj, key).is_some_and(|s| !s.is_string()) {
            return Err(format!("`requests.{key}` must be a string"));
        }
    }
    if field(obj, "viaProxy").and_then(Value::as_bool) == Some(true) {
        warnings.push(format!(
            "{}: `requests.viaProxy` is accepted but not applied; client addresses come from the connection",
            path.display()
        ));
    }
    Ok(())
}
