//! Errors of the storage engine. `s3/error.rs` maps each to its S3 code, in one place.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the specified bucket does not exist")]
    NoSuchBucket,
    #[error("the requested bucket name is not available")]
    BucketAlreadyExists,
    #[error("you already own this bucket")]
    BucketAlreadyOwnedByYou,
    #[error("the bucket you tried to delete is not empty")]
    BucketNotEmpty,
    #[error("the specified key does not exist")]
    NoSuchKey,
    #[error("the specified upload does not exist")]
    NoSuchUpload,
    #[error("one or more of the specified parts could not be found: {0}")]
    InvalidPart(String),
    #[error("the list of parts was not in ascending order")]
    InvalidPartOrder,
    #[error("your proposed upload is smaller than the minimum allowed size")]
    EntityTooSmall,
    #[error("your proposed upload exceeds the maximum allowed size")]
    EntityTooLarge,
    #[error("the Content-MD5 you specified did not match what we received")]
    BadDigest,
    #[error("the {algorithm} checksum you specified did not match what we received")]
    ChecksumMismatch { algorithm: String },
    #[error("at least one of the preconditions you specified did not hold")]
    PreconditionFailed,
    #[error("you did not provide the number of bytes specified by the Content-Length header")]
    IncompleteBody,
    #[error("the request body stalled for longer than the idle timeout")]
    RequestTimeout,
    /// The client's body stream failed; the message is the underlying error's Display text,
    /// which `s3/error.rs` maps (signature mismatch, short body, ...).
    #[error("{0}")]
    Body(String),
    #[error("storage I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("metadata store error: {0}")]
    Meta(String),
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Io(io) => StoreError::Io(io),
            other => StoreError::Meta(other.to_string()),
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
