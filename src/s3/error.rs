//! Every engine error becomes an S3 error here, and only here; plus the post-processing that
//! gives every error body the fields AWS sends (Message, Resource, RequestId).

use s3s::{S3Error, S3ErrorCode};

use crate::store::StoreError;

pub fn store_error(e: StoreError) -> S3Error {
    use S3ErrorCode as C;
    let (code, msg): (S3ErrorCode, String) = match e {
        StoreError::NoSuchBucket => (C::NoSuchBucket, "The specified bucket does not exist".into()),
        StoreError::BucketAlreadyExists => (
            C::BucketAlreadyExists,
            "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.".into(),
        ),
        StoreError::BucketAlreadyOwnedByYou => (
            C::BucketAlreadyOwnedByYou,
            "Your previous request to create the named bucket succeeded and you already own it.".into(),
        ),
        StoreError::BucketNotEmpty => (C::BucketNotEmpty, "The bucket you tried to delete is not empty".into()),
        StoreError::NoSuchKey => (C::NoSuchKey, "The specified key does not exist.".into()),
        StoreError::NoSuchUpload => (
            C::NoSuchUpload,
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.".into(),
        ),
        StoreError::InvalidPart(detail) => (
            C::InvalidPart,
            format!("One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. ({detail})"),
        ),
        StoreError::InvalidPartOrder => (
            C::InvalidPartOrder,
            "The list of parts was not in ascending order. Parts must be ordered by part number.".into(),
        ),
        StoreError::EntityTooSmall => {
            (C::EntityTooSmall, "Your proposed upload is smaller than the minimum allowed object size.".into())
        }
        StoreError::EntityTooLarge => {
            (C::EntityTooLarge, "Your proposed upload exceeds the maximum allowed object size.".into())
        }
        StoreError::BadDigest => (C::BadDigest, "The Content-MD5 you specified did not match what we received.".into()),
        StoreError::ChecksumMismatch { algorithm } => (
            C::BadDigest,
            format!("The {algorithm} you specified did not match the calculated checksum."),
        ),
        StoreError::PreconditionFailed => {
            (C::PreconditionFailed, "At least one of the pre-conditions you specified did not hold".into())
        }
        StoreError::IncompleteBody => (
            C::IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header".into(),
        ),
        StoreError::Body(text) => return body_error(&text),
        StoreError::RequestTimeout => (
            C::RequestTimeout,
            "Your socket connection to the server was not read from or written to within the timeout period. Idle connections will be closed.".into(),
        ),
        StoreError::Io(e) if e.kind() == std::io::ErrorKind::StorageFull => {
            tracing::error!(error = %e, "write refused: the data or metadata disk is full");
            (C::InternalError, "We encountered an internal error. Please try again.".into())
        }
        e @ (StoreError::Io(_) | StoreError::Meta(_) | StoreError::Corrupt(_)) => {
            tracing::error!(error = %e, "internal error");
            (C::InternalError, "We encountered an internal error. Please try again.".into())
        }
    };
    S3Error::with_message(code, msg)
}

impl From<StoreError> for S3Error {
    fn from(e: StoreError) -> Self {
        store_error(e)
    }
}

/// s3s's body-stream error types are private: they are recognised by their Display text
/// (ARCHITECTURE.md, "s3s 0.14.1 gaps").
pub fn body_error(text: &str) -> S3Error {
    use S3ErrorCode as C;
    let lower = text.to_ascii_lowercase();
    if lower.contains("sha256mismatch") || lower.contains("sha256 mismatch") || lower.contains("content_sha256") {
        custom(
            "XAmzContentSHA256Mismatch",
            http::StatusCode::BAD_REQUEST,
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        )
    } else if lower.contains("signaturemismatch") || lower.contains("signature mismatch") {
        S3Error::with_message(
            C::SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided.",
        )
    } else if lower.contains("longer than content-length") {
        S3Error::with_message(C::InvalidRequest, "The body is longer than the Content-Length header.")
    } else {
        tracing::debug!(error = text, "request body failed");
        S3Error::with_message(
            C::IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header",
        )
    }
}

/// An error code s3s does not list, with its status.
pub fn custom(code: &str, status: http::StatusCode, msg: &str) -> S3Error {
    let code = S3ErrorCode::from_bytes(code.as_bytes()).unwrap_or(S3ErrorCode::InternalError);
    let mut e = S3Error::with_message(code, msg.to_owned());
    e.set_status_code(status);
    e
}

/// AWS's message for codes that s3s emits without one.
pub fn default_message(code: &str) -> &'static str {
    match code {
        "AccessDenied" => "Access Denied",
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        }
        "RequestTimeTooSkewed" => "The difference between the request time and the current time is too large.",
        "NoSuchBucket" => "The specified bucket does not exist",
        "NoSuchKey" => "The specified key does not exist.",
        "InvalidBucketName" => "The specified bucket is not valid.",
        "KeyTooLongError" => "Your key is too long",
        "NotImplemented" => "A header you provided implies functionality that is not implemented",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "MalformedXML" => "The XML you provided was not well-formed or did not validate against our published schema",
        "InvalidRange" => "The requested range is not satisfiable",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "InvalidArgument" => "Invalid Argument",
        "InvalidRequest" => "Invalid Request",
        "InvalidURI" => "Couldn't parse the specified URI.",
        "InvalidDigest" => "The Content-MD5 you specified is not valid.",
        "EntityTooLarge" => "Your proposed upload exceeds the maximum allowed object size.",
        "MetadataTooLarge" => "Your metadata headers exceed the maximum allowed metadata size.",
        "SlowDown" => "Please reduce your request rate.",
        "InternalError" => "We encountered an internal error. Please try again.",
        "XAmzContentSHA256Mismatch" => "The provided 'x-amz-content-sha256' header does not match what was computed.",
        _ => "",
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn tag_value<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = body.find(&open)? + open.len();
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(&body[start..end])
}

/// Completes an `<Error>` body: adds Message (when s3s left it out), Resource and RequestId.
/// Returns None when `body` is not an S3 error document.
pub fn enrich_error_body(body: &[u8], resource: &str, request_id: &str) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(body).ok()?;
    let close = text.rfind("</Error>")?;
    let code = tag_value(text, "Code")?;
    let mut extra = String::new();
    if !text.contains("<Message>") {
        extra.push_str(&format!("<Message>{}</Message>", xml_escape(default_message(code))));
    }
    if !text.contains("<Resource>") {
        extra.push_str(&format!("<Resource>{}</Resource>", xml_escape(resource)));
    }
    if !text.contains("<RequestId>") {
        extra.push_str(&format!("<RequestId>{}</RequestId>", xml_escape(request_id)));
    }
    let mut out = String::with_capacity(text.len() + extra.len());
    out.push_str(&text[..close]);
    out.push_str(&extra);
    out.push_str(&text[close..]);
    Some(out.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrich_adds_missing_fields() {
        let body = br#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code></Error>"#;
        let out = String::from_utf8(enrich_error_body(body, "/b/k&x", "REQ1").unwrap()).unwrap();
        assert!(out.contains("<Message>The specified key does not exist.</Message>"));
        assert!(out.contains("<Resource>/b/k&amp;x</Resource>"));
        assert!(out.contains("<RequestId>REQ1</RequestId></Error>"));
        let body = b"<Error><Code>X</Code><Message>m</Message><RequestId>r</RequestId></Error>";
        let out = String::from_utf8(enrich_error_body(body, "/", "REQ2").unwrap()).unwrap();
        assert_eq!(out.matches("<Message>").count(), 1);
        assert_eq!(out.matches("<RequestId>").count(), 1);
        assert!(enrich_error_body(b"<ListBucketResult/>", "/", "r").is_none());
    }

    #[test]
    fn body_errors_map_by_text() {
        assert_eq!(body_error("AwsChunkedStreamError: SignatureMismatch").code(), &S3ErrorCode::SignatureDoesNotMatch);
        assert_eq!(body_error("AwsChunkedStreamError: Incomplete").code(), &S3ErrorCode::IncompleteBody);
        assert_eq!(store_error(StoreError::NoSuchKey).code(), &S3ErrorCode::NoSuchKey);
    }
}
