//! s3server: a single-node S3-compatible object store, a drop-in replacement for Zenko CloudServer.
//!
//! Layers (see README.md): `server` (TCP/TLS, request ids, admin routes) -> `s3` (the only code that
//! knows s3s) -> `store` (the storage engine, which never sees HTTP).
#![forbid(unsafe_code)]

pub mod config;
pub mod s3;
pub mod server;
pub mod store;
