//! s3server: a single-node S3-compatible object store, a drop-in replacement for Zenko CloudServer.
//!
//! Layers (see README.md): `server` (TCP/TLS, request ids, admin routes) -> `s3` (the only code that
//! knows s3s) -> `store` (the storage engine, which never sees HTTP).
// No unsafe code, but for one module: the AVX-512 MD5 kernel (store/md5/lanes.rs).
#![deny(unsafe_code)]

pub mod config;
pub mod s3;
pub mod server;
pub mod store;
