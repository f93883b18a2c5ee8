//! Accounts: CloudServer's authdata.json, or the SCALITY_ACCESS_KEY_ID/SECRET pair.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use md5::{Digest, Md5};
use serde_json::{Map, Value};

use super::file::{field, parse_json, read_text};
use super::{Account, Args, ConfigError, find_explicit};

const DEFAULT_AUTH_FILE: &str = "conf/authdata.json";

/// The canonical ID CloudServer gives both its sample account and the SCALITY_* account, so
/// objects written under either keep the same owner when switching between them.
const SAMPLE_CANONICAL_ID: &str = "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2be";

/// Returns the accounts and the file they came from (None for the environment or built-ins).
pub(super) fn load_accounts(
    args: &Args,
    env: &dyn Fn(&str) -> Option<String>,
    base: &Path,
    warnings: &mut Vec<String>,
) -> Result<(Vec<Account>, Option<PathBuf>), ConfigError> {
    let explicit = env("S3AUTH_CONFIG").map(PathBuf::from).or_else(|| args.auth_config.clone());
    match (env("SCALITY_ACCESS_KEY_ID"), env("SCALITY_SECRET_ACCESS_KEY")) {
        (Some(access), Some(secret)) => {
            if let Some(p) = &explicit {
                warnings.push(format!(
                    "{}: not read, SCALITY_ACCESS_KEY_ID and SCALITY_SECRET_ACCESS_KEY define the account",
                    p.display()
                ));
            }
            return Ok((vec![env_account(access, secret)], None));
        }
        (Some(_), None) => {
            return Err(pair_error("SCALITY_SECRET_ACCESS_KEY", "SCALITY_ACCESS_KEY_ID"));
        }
        (None, Some(_)) => {
            return Err(pair_error("SCALITY_ACCESS_KEY_ID", "SCALITY_SECRET_ACCESS_KEY"));
        }
        (None, None) => {}
    }

    let path = match explicit {
        Some(p) => find_explicit(base, &p),
        None => {
            let path = base.join(DEFAULT_AUTH_FILE);
            // Only a missing default file falls back; an unreadable one is still an error.
            if matches!(std::fs::metadata(&path), Err(e) if e.kind() == std::io::ErrorKind::NotFound) {
                warnings.push(format!(
                    "{} not found; using the built-in sample accounts (accessKey1, accessKey2), \
                     which must not be used in production",
                    path.display()
                ));
                return Ok((builtin_accounts(), None));
            }
            path
        }
    };
    let text = read_text(&path)?;
    let accounts = parse_accounts(&path, &text, warnings)?;
    Ok((accounts, Some(path)))
}

fn pair_error(missing: &'static str, present: &str) -> ConfigError {
    ConfigError::Env { var: missing, msg: format!("must be set together with {present}") }
}

/// The account CloudServer builds from SCALITY_ACCESS_KEY_ID / SCALITY_SECRET_ACCESS_KEY.
fn env_account(access: String, secret: String) -> Account {
    Account {
        name: "CustomAccount".to_string(),
        email: "customaccount1@setbyenv.com".to_string(),
        arn: "arn:aws:iam::123456789012:root".to_string(),
        canonical_id: SAMPLE_CANONICAL_ID.to_string(),
        shortid: "123456789012".to_string(),
        keys: vec![(access, secret)],
    }
}

/// The two accounts of the shipped conf/authdata.json (CloudServer's sample), for a server
/// started without one. Kept in code rather than include_str! so that a locally edited
/// conf/authdata.json never gets compiled into the binary.
pub(super) fn builtin_accounts() -> Vec<Account> {
    let account = |name: &str, n: u8, canonical: &str| Account {
        name: name.to_string(),
        email: format!("sampleaccount{n}@sampling.com"),
        arn: format!("arn:aws:iam::12345678901{}:root", n + 1),
        canonical_id: canonical.to_string(),
        shortid: format!("12345678901{}", n + 1),
        keys: vec![(format!("accessKey{n}"), format!("verySecretKey{n}"))],
    };
    vec![
        account("Bart", 1, SAMPLE_CANONICAL_ID),
        account("Lisa", 2, "79a59df900b949e55d96a1e698fbacedfd6e09d98eacf8f8d5218e7cd47ef2bf"),
    ]
}

/// Parses an authdata.json document. Fields beyond the ones we use (`users`, ...) are ignored.
pub(super) fn parse_accounts(path: &Path, text: &str, warnings: &mut Vec<String>) -> Result<Vec<Account>, ConfigError> {
    let root = parse_json(path, text)?;
    let invalid = |msg: String| ConfigError::Invalid { path: path.to_path_buf(), msg };
    let list = root
        .get("accounts")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid("`accounts` must be a list of accounts".into()))?;
    if list.is_empty() {
        warnings.push(format!("{}: no accounts; every request will be denied", path.display()));
    }

    let mut accounts = Vec::with_capacity(list.len());
    for (i, v) in list.iter().enumerate() {
        let obj = v.as_object().ok_or_else(|| invalid(format!("accounts[{i}] must be an object")))?;
        accounts.push(parse_account(obj).map_err(|m| invalid(format!("accounts[{i}]: {m}")))?);
    }

    // One key must identify one account, or a request could be authenticated as either.
    let mut owners: HashMap<&str, &str> = HashMap::new();
    let mut ids: HashMap<&str, &str> = HashMap::new();
    for a in &accounts {
        for (access, _) in &a.keys {
            if let Some(other) = owners.insert(access, &a.name) {
                return Err(invalid(format!("access key `{access}` is given to both `{other}` and `{}`", a.name)));
            }
        }
        if let Some(other) = ids.insert(&a.canonical_id, &a.name) {
            warnings.push(format!(
                "{}: accounts `{other}` and `{}` share canonicalID {}; they will own each other's buckets",
                path.display(),
                a.name,
                a.canonical_id
            ));
        }
        if a.keys.is_empty() {
            warnings.push(format!("{}: account `{}` has no keys", path.display(), a.name));
        }
    }
    Ok(accounts)
}

fn parse_account(obj: &Map<String, Value>) -> Result<Account, String> {
    let string = |key: &str| -> Result<Option<String>, String> {
        match field(obj, key) {
            None => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
            Some(_) => Err(format!("`{key}` must be a string")),
        }
    };
    let name = string("name")?.ok_or("`name` is required")?;
    let err = |m: String| format!("({name}) {m}");
    let email = string("email").map_err(err)?.unwrap_or_default();
    let arn = string("arn").map_err(err)?;
    let shortid = match string("shortid").map_err(err)? {
        Some(id) => id,
        None => arn.as_deref().and_then(account_id_in_arn).unwrap_or_else(|| derived_shortid(&name)),
    };
    let arn = arn.unwrap_or_else(|| format!("arn:aws:iam::{shortid}:root"));
    let canonical_id = string("canonicalID").map_err(err)?.unwrap_or_else(|| derived_canonical_id(&name));

    // Current files have "keys": [{access, secret}]; old ones a single {access, secret} object.
    let keys = match field(obj, "keys") {
        None => Vec::new(),
        Some(Value::Array(list)) => list.iter().map(key_pair).collect::<Result<_, _>>().map_err(err)?,
        Some(v @ Value::Object(_)) => vec![key_pair(v).map_err(err)?],
        Some(_) => {
            return Err(err("`keys` must be a list of {\"access\", \"secret\"} objects".into()));
        }
    };
    Ok(Account { name, email, arn, canonical_id, shortid, keys })
}

fn key_pair(v: &Value) -> Result<(String, String), String> {
    let get = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("every key needs non-empty `access` and `secret` strings (`{k}` is missing)"))
    };
    Ok((get("access")?, get("secret")?))
}

/// The 12-digit account id in "arn:aws:iam::123456789012:root" (or CloudServer's
/// sample spelling "aws::iam:123456789012:root").
fn account_id_in_arn(arn: &str) -> Option<String> {
    arn.split(':').find(|p| p.len() == 12 && p.bytes().all(|b| b.is_ascii_digit())).map(str::to_string)
}

/// A stable 64-hex-digit canonical ID, so ownership survives restarts for accounts without one.
pub(super) fn derived_canonical_id(name: &str) -> String {
    hex::encode(Md5::digest(name.as_bytes())).repeat(2)
}

fn derived_shortid(name: &str) -> String {
    let digest = Md5::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    format!("{:012}", u64::from_be_bytes(first) % 1_000_000_000_000)
}
