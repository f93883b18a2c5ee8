//! Integration tests: the S3 API end to end through the AWS SDK and raw HTTP, against both
//! storage backends, plus the real binary (start-up, restart, SIGKILL crash safety).

mod common;

mod acl;
mod attrs;
mod auth;
mod binary;
mod bucket;
mod list;
mod multipart;
mod object;
mod ops;
mod reads;
