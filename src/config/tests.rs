use std::collections::HashMap;
use std::fs;
use std::net::SocketAddr;
use std::path::Path;

use tempfile::TempDir;

use super::*;

const AUTH_BOTH_FORMATS: &str = r#"{"accounts": [
    {"name": "new", "email": "n@x", "arn": "arn:aws:iam::111111111111:root",
     "canonicalID": "aaaa", "shortid": "111111111111",
     "keys": [{"access": "AK1", "secret": "SK1"}, {"access": "AK1b", "secret": "SK1b"}]},
    {"name": "old", "keys": {"access": "AK2", "secret": "SK2"}, "users": []}
]}"#;

/// A temp dir used as the current directory, holding conf/authdata.json unless told otherwise.
fn dir_with_auth() -> TempDir {
    let dir = TempDir::new().expect("temp dir");
    fs::create_dir(dir.path().join("conf")).expect("mkdir");
    fs::write(dir.path().join("conf/authdata.json"), AUTH_BOTH_FORMATS).expect("write");
    dir
}

fn run(dir: &Path, args: &Args, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    let env: HashMap<String, String> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    load_in(args, &|k| env.get(k).cloned(), dir)
}

fn ok(dir: &Path, args: &Args, env: &[(&str, &str)]) -> Settings {
    run(dir, args, env).unwrap_or_else(|e| panic!("load failed: {e}"))
}

fn err(dir: &Path, args: &Args, env: &[(&str, &str)]) -> String {
    match run(dir, args, env) {
        Ok(s) => panic!("expected an error, got {s:?}"),
        Err(e) => {
            assert_eq!(e.exit_code(), 2);
            e.to_string()
        }
    }
}

fn write_config(dir: &Path, text: &str) {
    fs::write(dir.join("config.json"), text).expect("write config");
}

fn addrs(list: &[&str]) -> Vec<SocketAddr> {
    list.iter().map(|s| s.parse().expect("addr")).collect()
}

#[test]
fn defaults_without_config_file() {
    let dir = dir_with_auth();
    let s = ok(dir.path(), &Args::default(), &[]);
    assert_eq!(s.listen, addrs(&["0.0.0.0:8000"]));
    assert_eq!(s.metrics_listen, addrs(&["0.0.0.0:8002"]));
    assert_eq!((s.data_backend, s.metadata_backend), (Backend::File, Backend::File));
    assert_eq!(s.data_path, PathBuf::from("./localData"));
    assert_eq!(s.metadata_path, PathBuf::from("./localMetadata"));
    assert_eq!(s.rest_endpoints, ["localhost", "127.0.0.1", "s3.amazonaws.com"]);
    assert_eq!(s.region, "us-east-1");
    assert_eq!(s.log_level, "info");
    assert_eq!(s.health_allow_from, ["127.0.0.1/8", "::1"]);
    assert!(s.tls.is_none() && !s.mpu_testing && s.config_file.is_none());
    assert_eq!(s.presign_max_expiry_secs, 604_800);
    assert_eq!(s.auth_file, Some(dir.path().join("conf/authdata.json")));
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
}

#[test]
fn shipped_files_load_cleanly() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let s = ok(root, &Args::default(), &[]);
    assert!(s.warnings.is_empty(), "{:?}", s.warnings);
    assert_eq!(s.listen, addrs(&["0.0.0.0:8000"]));
    assert!(s.rest_endpoints.contains(&"s3.docker.test".to_string()));
    // The built-in fallback must be the shipped accounts, field for field.
    let fields = |a: &Account| {
        let id = (&a.name, &a.email, &a.arn, &a.canonical_id, &a.shortid);
        format!("{id:?} {:?}", a.keys)
    };
    let shipped: Vec<String> = s.accounts.iter().map(fields).collect();
    let builtin: Vec<String> = authdata::builtin_accounts().iter().map(fields).collect();
    assert_eq!(shipped, builtin);
    // Debug output (settings may be logged) must not reveal secrets.
    let debug = format!("{s:?}");
    assert!(debug.contains("accessKey1") && !debug.contains("verySecretKey1"));
}

#[test]
fn config_values_are_used_and_unknown_keys_warn() {
    let dir = dir_with_auth();
    write_config(
        dir.path(),
        r#"{"port": 9000, "metricsPort": 9002, "listenOn": ["127.0.0.1:9100", "[::1]:9101", "10.1.2.3"],
            "restEndpoints": {"S3.Example.COM": "us-east-1", "other:8080": "loc2"},
            "healthChecks": {"allowFrom": ["10.0.0.0/8"]}, "log": {"logLevel": "debug", "dumpLevel": "error"},
            "bucketd": {"bootstrap": ["x"]}, "vaultd": {}, "requests": {"viaProxy": false},
            "foo": 1, "certFilePaths": {}}"#,
    );
    let s = ok(dir.path(), &Args::default(), &[]);
    assert_eq!(s.listen, addrs(&["127.0.0.1:9100", "[::1]:9101", "10.1.2.3:9000"]));
    assert_eq!(s.metrics_listen, addrs(&["0.0.0.0:9002"]));
    assert_eq!(s.rest_endpoints[3..], ["s3.example.com", "other"]);
    assert_eq!(s.health_allow_from, ["127.0.0.1/8", "::1", "10.0.0.0/8"]);
    assert_eq!(s.log_level, "debug");
    assert_eq!(s.config_file, Some(dir.path().join("config.json")));
    assert_eq!(s.warnings.len(), 1, "{:?}", s.warnings);
    assert!(s.warnings[0].ends_with("config.json: unknown key `foo` ignored"), "{}", s.warnings[0]);
}

#[test]
fn flags_override_config_and_env_overrides_flags() {
    let dir = dir_with_auth();
    write_config(dir.path(), r#"{"port": 9000, "listenOn": ["127.0.0.1:9100"], "log": {"logLevel": "debug"}}"#);
    let args = Args {
        port: Some(7000),
        metrics_port: Some(7002),
        backend: Some("mem".into()),
        data_path: Some("/flag/data".into()),
        metadata_path: Some("/flag/meta".into()),
        log_level: Some("warn".into()),
        ..Args::default()
    };
    let s = ok(dir.path(), &args, &[]);
    // --port moves the configured listener instead of dropping its address.
    assert_eq!(s.listen, addrs(&["127.0.0.1:7000"]));
    assert_eq!(s.metrics_listen, addrs(&["0.0.0.0:7002"]));
    assert_eq!((s.data_backend, s.metadata_backend), (Backend::Mem, Backend::Mem));
    assert_eq!(s.data_path, PathBuf::from("/flag/data"));
    assert_eq!(s.log_level, "warn");

    let env = [
        ("S3BACKEND", "file"),
        ("S3METADATA", "mem"),
        ("S3DATAPATH", "/env/data"),
        ("S3METADATAPATH", "/env/meta"),
        ("LOG_LEVEL", "trace"),
        ("MPU_TESTING", "yes"),
        ("PRE_SIGN_URL_EXPIRY", "3600000"),
        ("REMOTE_MANAGEMENT_DISABLE", "1"),
    ];
    let s = ok(dir.path(), &args, &env);
    assert_eq!((s.data_backend, s.metadata_backend), (Backend::File, Backend::Mem));
    assert_eq!(s.data_path, PathBuf::from("/env/data"));
    assert_eq!(s.metadata_path, PathBuf::from("/env/meta"));
    assert_eq!(s.log_level, "trace");
    assert!(s.mpu_testing);
    assert_eq!(s.presign_max_expiry_secs, 3600);

    let s = ok(dir.path(), &Args::default(), &[("PRE_SIGN_URL_EXPIRY", "999999999999")]);
    assert_eq!(s.presign_max_expiry_secs, 604_800);
    assert!(err(dir.path(), &args, &[("S3DATA", "scality")]).starts_with("environment variable S3DATA:"));
    assert!(err(dir.path(), &args, &[("S3BACKEND", "disk")]).contains("S3BACKEND"));
    let s = ok(dir.path(), &Args::default(), &[("S3BACKEND", "mem"), ("S3DATA", "multiple")]);
    assert_eq!((s.data_backend, s.metadata_backend), (Backend::File, Backend::Mem));
}

#[test]
fn listen_flag_and_listen_addr() {
    let dir = dir_with_auth();
    let args = Args { listen: Some(vec!["127.0.0.1".into(), "[::1]:9001,10.0.0.1:9002".into()]), ..Args::default() };
    let s = ok(dir.path(), &args, &[]);
    assert_eq!(s.listen, addrs(&["127.0.0.1:8000", "[::1]:9001", "10.0.0.1:9002"]));

    let s = ok(dir.path(), &Args { port: Some(9000), ..args }, &[("LISTEN_ADDR", "192.168.1.5")]);
    assert_eq!(s.listen, addrs(&["192.168.1.5:9000"]));
    assert!(err(dir.path(), &Args::default(), &[("LISTEN_ADDR", "1.2.3.4:x")]).contains("LISTEN_ADDR"));

    // Same port on overlapping addresses for S3 and metrics is caught before bind.
    let clash = Args { port: Some(8002), ..Args::default() };
    assert!(err(dir.path(), &clash, &[]).contains("same port"));
}

#[test]
fn endpoint_env_adds_hosts() {
    let dir = dir_with_auth();
    let s = ok(dir.path(), &Args::default(), &[("ENDPOINT", "s3.local:8000, Other.Host ,,localhost")]);
    assert_eq!(s.rest_endpoints, ["localhost", "127.0.0.1", "s3.amazonaws.com", "s3.local", "other.host"]);
    let s = ok(dir.path(), &Args::default(), &[("HEALTHCHECKS_ALLOWFROM", "10.0.0.0/8, 172.16.0.1")]);
    assert_eq!(s.health_allow_from, ["127.0.0.1/8", "::1", "10.0.0.0/8", "172.16.0.1"]);
    assert!(
        err(dir.path(), &Args::default(), &[("HEALTHCHECKS_ALLOWFROM", "nope")]).contains("HEALTHCHECKS_ALLOWFROM")
    );
}

#[test]
fn malformed_and_mistyped_config() {
    let dir = dir_with_auth();
    write_config(dir.path(), "{\n  \"port\": 8000\n  \"listenOn\": []\n}");
    let e = err(dir.path(), &Args::default(), &[]);
    assert!(e.ends_with("config.json:3:3: expected `,` or `}`"), "{e}");

    for (text, want) in [
        (r#"{"port": "8000"}"#, "config.json: `port` must be a number 1-65535"),
        (r#"{"port": 70000}"#, "`port` must be a number 1-65535"),
        (r#"{"listenOn": "0.0.0.0:8000"}"#, "`listenOn` must be a list"),
        (r#"{"restEndpoints": {"a": 1}}"#, "`restEndpoints.a` must be a string"),
        (r#"{"log": {"logLevel": "loud"}}"#, "unknown log level `loud`"),
        (r#"{"healthChecks": {"allowFrom": ["300.1.1.1"]}}"#, "healthChecks.allowFrom"),
        (r#"{"requests": {"viaProxy": "yes"}}"#, "requests.viaProxy"),
        ("[1]", "top level must be a JSON object"),
    ] {
        write_config(dir.path(), text);
        let e = err(dir.path(), &Args::default(), &[]);
        assert!(e.contains(want), "{text}: {e}");
    }
}

#[test]
fn explicit_config_paths() {
    let dir = dir_with_auth();
    let e = err(dir.path(), &Args { config: Some("missing.json".into()), ..Args::default() }, &[]);
    assert!(e.starts_with("cannot read ") && e.ends_with("missing.json: No such file or directory"), "{e}");

    fs::write(dir.path().join("conf/other.json"), r#"{"port": 8100}"#).expect("write");
    let args = Args { config: Some("nowhere.json".into()), ..Args::default() };
    // S3_CONFIG_FILE beats --config, and a bare name is also looked up under conf/.
    let s = ok(dir.path(), &args, &[("S3_CONFIG_FILE", "other.json")]);
    assert_eq!(s.listen, addrs(&["0.0.0.0:8100"]));
}

#[test]
fn cert_file_paths() {
    let dir = dir_with_auth();
    let etc = dir.path().join("etc");
    fs::create_dir(&etc).expect("mkdir");
    for f in ["server.key", "server.crt", "ca.crt"] {
        fs::write(etc.join(f), "pem").expect("write");
    }
    let cfg = etc.join("config.json");
    let args = Args { config: Some(cfg.clone()), ..Args::default() };
    fs::write(&cfg, r#"{"certFilePaths": {"key": "./server.key", "cert": "server.crt", "ca": "/nonexistent/ca.crt"}}"#)
        .expect("write");
    let e = err(dir.path(), &args, &[]);
    assert_eq!(e, "cannot read /nonexistent/ca.crt: No such file or directory");

    fs::write(&cfg, r#"{"certFilePaths": {"key": "./server.key", "cert": "server.crt", "ca": "ca.crt"}}"#)
        .expect("write");
    let tls = ok(dir.path(), &args, &[]).tls.expect("tls");
    assert_eq!(tls.key, etc.join("./server.key"));
    assert_eq!(tls.cert, etc.join("server.crt"));
    assert_eq!(tls.ca, Some(etc.join("ca.crt")));

    fs::write(&cfg, r#"{"certFilePaths": {"key": "server.key"}}"#).expect("write");
    let e = err(dir.path(), &args, &[]);
    assert!(e.ends_with("config.json: certFilePaths: key and cert must both be given"), "{e}");
}

#[test]
fn scality_env_pair() {
    let dir = dir_with_auth();
    let env = [("SCALITY_ACCESS_KEY_ID", "myKey"), ("SCALITY_SECRET_ACCESS_KEY", "mySecret")];
    let s = ok(dir.path(), &Args::default(), &env);
    assert_eq!(s.accounts.len(), 1);
    assert_eq!(s.accounts[0].name, "CustomAccount");
    assert_eq!(s.accounts[0].keys, [("myKey".to_string(), "mySecret".to_string())]);
    assert!(s.auth_file.is_none());

    let e = err(dir.path(), &Args::default(), &env[..1]);
    assert_eq!(e, "environment variable SCALITY_SECRET_ACCESS_KEY: must be set together with SCALITY_ACCESS_KEY_ID");
    assert!(err(dir.path(), &Args::default(), &env[1..]).contains("SCALITY_ACCESS_KEY_ID"));
}

#[test]
fn authdata_formats_and_derived_fields() {
    let dir = dir_with_auth();
    let s = ok(dir.path(), &Args::default(), &[]);
    let [new, old] = &s.accounts[..] else { panic!("{:?}", s.accounts) };
    assert_eq!(new.keys.len(), 2);
    assert_eq!((new.canonical_id.as_str(), new.shortid.as_str()), ("aaaa", "111111111111"));
    assert_eq!(old.keys, [("AK2".to_string(), "SK2".to_string())]);
    assert_eq!(old.canonical_id.len(), 64);
    assert_eq!(old.canonical_id, authdata::derived_canonical_id("old"));
    assert_eq!(old.arn, format!("arn:aws:iam::{}:root", old.shortid));
}

#[test]
fn authdata_errors() {
    let dir = dir_with_auth();
    let auth = dir.path().join("conf/authdata.json");
    let dup = r#"{"accounts": [{"name": "a", "keys": [{"access": "K", "secret": "1"}]},
                               {"name": "b", "keys": [{"access": "K", "secret": "2"}]}]}"#;
    fs::write(&auth, dup).expect("write");
    let e = err(dir.path(), &Args::default(), &[]);
    assert!(e.ends_with("authdata.json: access key `K` is given to both `a` and `b`"), "{e}");

    fs::write(&auth, "{\"accounts\": [\n  {\"name\": }]}").expect("write");
    let e = err(dir.path(), &Args::default(), &[]);
    assert!(e.contains("authdata.json:2:12: expected value"), "{e}");

    fs::write(&auth, r#"{"accounts": [{"name": "a", "keys": [{"access": "K"}]}]}"#).expect("write");
    assert!(err(dir.path(), &Args::default(), &[]).contains("accounts[0]: (a) every key needs"));

    let e = err(dir.path(), &Args::default(), &[("S3AUTH_CONFIG", "/nonexistent/auth.json")]);
    assert_eq!(e, "cannot read /nonexistent/auth.json: No such file or directory");
}

#[test]
fn missing_default_authdata_uses_builtin_accounts() {
    let dir = TempDir::new().expect("temp dir");
    let s = ok(dir.path(), &Args::default(), &[]);
    let names: Vec<&str> = s.accounts.iter().map(|a| a.name.as_str()).collect();
    assert_eq!(names, ["Bart", "Lisa"]);
    assert_eq!(s.accounts[0].keys, [("accessKey1".to_string(), "verySecretKey1".to_string())]);
    assert_eq!(s.accounts[1].arn, "arn:aws:iam::123456789013:root");
    assert!(s.auth_file.is_none());
    assert_eq!(s.warnings.len(), 1);
    assert!(s.warnings[0].contains("authdata.json not found"), "{}", s.warnings[0]);
    // An explicitly named file must exist.
    let args = Args { auth_config: Some("auth.json".into()), ..Args::default() };
    assert!(err(dir.path(), &args, &[]).starts_with("cannot read "));
}

#[test]
fn net_helpers() {
    assert_eq!(net::normalize_host("HTTP://S3.Example.com:8000/"), Some("s3.example.com".into()));
    assert_eq!(net::normalize_host("[::1]:8000"), Some("::1".into()));
    assert_eq!(net::normalize_host("::1"), Some("::1".into()));
    assert_eq!(net::normalize_host(" "), None);
    assert!(net::validate_cidr("::1/129").is_err());
    assert!(net::validate_cidr("fd00::/8").is_ok());
    let ep = net::parse_endpoint("localhost:81").expect("parse");
    assert_eq!(ep.port, Some(81));
    assert!(ep.ip.is_loopback());
}

#[test]
fn clap_flags_parse() {
    use clap::{CommandFactory, Parser};
    Args::command().debug_assert();
    let args = Args::try_parse_from([
        "s3server",
        "--listen",
        "127.0.0.1:9000",
        "--listen",
        "::1",
        "--backend",
        "mem",
        "--log-level",
        "debug",
        "--data-path",
        "/d",
    ])
    .expect("parse");
    assert_eq!(args.listen, Some(vec!["127.0.0.1:9000".to_string(), "::1".to_string()]));
    assert_eq!(args.backend.as_deref(), Some("mem"));
    let dir = dir_with_auth();
    let s = ok(dir.path(), &args, &[]);
    assert_eq!(s.listen, addrs(&["127.0.0.1:9000", "[::1]:8000"]));
    assert_eq!(s.data_backend, Backend::Mem);
    assert!(err(dir.path(), &Args { backend: Some("disk".into()), ..Args::default() }, &[]).starts_with("--backend: "));
}
