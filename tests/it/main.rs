//! Integration tests: the S3 API end to end through the AWS SDK and raw HTTP, against both
//! storage backends, plus the real binary (start-up, restart, SIGKILL crash safety).

mod common;

mod acl;
mod attrs;
mod auth;
mod binary;
mod bucket;
mod checksum;
mod list;
mod multipart;
mod multipart_complete;
mod object;
mod ops;
mod reads;
