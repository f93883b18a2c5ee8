//! RFC 7232 preconditions as S3 evaluates them, for GET/HEAD and for `x-amz-copy-source-if-*`.
//!
//! Order: If-Match, then If-Unmodified-Since (skipped when If-Match is present and holds);
//! If-None-Match, then If-Modified-Since (skipped when If-None-Match is present). A failed
//! If-None-Match / If-Modified-Since is 304 for GET/HEAD and 412 otherwise.

use http::HeaderMap;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Conditions {
    pub if_match: Option<Vec<String>>,
    pub if_none_match: Option<Vec<String>>,
    /// Seconds since the epoch.
    pub if_modified_since: Option<i64>,
    pub if_unmodified_since: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Proceed,
    NotModified,
    PreconditionFailed,
}

/// Splits an ETag list (`"a", W/"b", *`) into bare values; s3s reads such a list as one ETag.
pub fn parse_etag_list(raw: &str) -> Vec<String> {
    raw.split(',')
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| s.strip_prefix("W/").unwrap_or(s).trim_matches('"').to_owned())
        .collect()
}

fn parse_date(raw: &str) -> Option<i64> {
    let t = httpdate::parse_http_date(raw.trim()).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

impl Conditions {
    /// Reads `if-*` headers, or `x-amz-copy-source-if-*` with that prefix. Unparseable dates
    /// are ignored, as S3 does.
    pub fn from_headers(headers: &HeaderMap, prefix: &str) -> Self {
        let get = |name: &str| {
            // Every GET and HEAD asks for the four plain names: no string built for them.
            let all = if prefix.is_empty() {
                headers.get_all(name)
            } else {
                headers.get_all(format!("{prefix}{name}").as_str())
            };
            let values: Vec<&str> = all.iter().filter_map(|v| v.to_str().ok()).collect();
            if values.is_empty() { None } else { Some(values.join(",")) }
        };
        Conditions {
            if_match: get("if-match").map(|v| parse_etag_list(&v)),
            if_none_match: get("if-none-match").map(|v| parse_etag_list(&v)),
            if_modified_since: get("if-modified-since").and_then(|v| parse_date(&v)),
            if_unmodified_since: get("if-unmodified-since").and_then(|v| parse_date(&v)),
        }
    }

    pub fn is_empty(&self) -> bool {
        *self == Conditions::default()
    }

    /// `etag` without quotes; `last_modified_ms` in milliseconds (compared at second precision).
    pub fn evaluate(&self, etag: &str, last_modified_ms: i64, get_or_head: bool) -> Outcome {
        let lm = last_modified_ms.div_euclid(1000);
        let matches = |list: &Vec<String>| list.iter().any(|e| e == "*" || e == etag);
        match &self.if_match {
            Some(list) if !matches(list) => return Outcome::PreconditionFailed,
            Some(_) => {}
            None => {
                if self.if_unmodified_since.is_some_and(|t| lm > t) {
                    return Outcome::PreconditionFailed;
                }
            }
        }
        let fail = if get_or_head { Outcome::NotModified } else { Outcome::PreconditionFailed };
        match &self.if_none_match {
            Some(list) if matches(list) => return fail,
            Some(_) => {}
            None => {
                if self.if_modified_since.is_some_and(|t| lm <= t) {
                    return fail;
                }
            }
        }
        Outcome::Proceed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(im: Option<&str>, inm: Option<&str>, ims: Option<i64>, ius: Option<i64>) -> Conditions {
        Conditions {
            if_match: im.map(parse_etag_list),
            if_none_match: inm.map(parse_etag_list),
            if_modified_since: ims,
            if_unmodified_since: ius,
        }
    }

    const LM: i64 = 1_000_500; // ms: second 1000

    #[test]
    fn etag_lists() {
        assert_eq!(parse_etag_list(r#""a", W/"b",*"#), ["a", "b", "*"]);
    }

    #[test]
    fn if_match() {
        assert_eq!(c(Some("\"x\""), None, None, None).evaluate("x", LM, true), Outcome::Proceed);
        assert_eq!(c(Some("\"y\", \"x\""), None, None, None).evaluate("x", LM, true), Outcome::Proceed);
        assert_eq!(c(Some("\"y\""), None, None, None).evaluate("x", LM, true), Outcome::PreconditionFailed);
        assert_eq!(c(Some("*"), None, None, None).evaluate("x", LM, true), Outcome::Proceed);
        // If-Match holds: If-Unmodified-Since is not consulted.
        assert_eq!(c(Some("x"), None, None, Some(10)).evaluate("x", LM, true), Outcome::Proceed);
    }

    #[test]
    fn unmodified_since_at_second_precision() {
        assert_eq!(c(None, None, None, Some(1000)).evaluate("x", LM, true), Outcome::Proceed);
        assert_eq!(c(None, None, None, Some(999)).evaluate("x", LM, true), Outcome::PreconditionFailed);
    }

    #[test]
    fn none_match_and_modified_since() {
        assert_eq!(c(None, Some("x"), None, None).evaluate("x", LM, true), Outcome::NotModified);
        assert_eq!(c(None, Some("x"), None, None).evaluate("x", LM, false), Outcome::PreconditionFailed);
        assert_eq!(c(None, Some("y"), Some(5000), None).evaluate("x", LM, true), Outcome::Proceed);
        assert_eq!(c(None, None, Some(1000), None).evaluate("x", LM, true), Outcome::NotModified);
        assert_eq!(c(None, None, Some(999), None).evaluate("x", LM, true), Outcome::Proceed);
        // If-Match fails first even when If-None-Match would give 304.
        assert_eq!(c(Some("y"), Some("x"), None, None).evaluate("x", LM, true), Outcome::PreconditionFailed);
    }

    #[test]
    fn headers() {
        let mut h = HeaderMap::new();
        h.insert("x-amz-copy-source-if-match", "\"a\"".parse().unwrap());
        h.insert("if-modified-since", "Sun, 06 Nov 1994 08:49:37 GMT".parse().unwrap());
        h.insert("if-unmodified-since", "garbage".parse().unwrap());
        let plain = Conditions::from_headers(&h, "");
        assert_eq!(plain.if_modified_since, Some(784111777));
        assert_eq!(plain.if_unmodified_since, None);
        assert!(plain.if_match.is_none());
        let copy = Conditions::from_headers(&h, "x-amz-copy-source-");
        assert_eq!(copy.if_match, Some(vec!["a".to_string()]));
    }
}
