//! Deterministic object bodies: every key maps to a known byte string, so reads are verified
//! (length, ETag, every byte) without keeping what was written.
//!
//! A `Corpus` of object size `S` is one pseudo-random pool of `S + (V-1) * STRIDE` bytes; its
//! variant `v` is the window starting at `v * STRIDE`. A key picks its variant by hash, so
//! neighbouring keys hold different bytes, bodies are zero-copy slices of the pool, and the MD5 of
//! each variant is computed once, before any timing starts.

use bytes::Bytes;
use md5::{Digest, Md5};

/// Offset between variants: odd, so no two variants are shifted copies at a block boundary.
const STRIDE: usize = 4099;

/// SplitMix64: a tiny, fast, seedable generator (used for bodies and for key choice).
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// FNV-1a: maps a key name to a variant.
pub fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// A family of `variants` distinct bodies of `size` bytes each.
pub struct Corpus {
    pool: Bytes,
    size: usize,
    md5s: Vec<String>,
}

impl Corpus {
    pub fn new(size: usize, variants: usize, seed: u64) -> Self {
        let variants = variants.max(1);
        let len = size + (variants - 1) * STRIDE;
        let mut rng = Rng::new(seed ^ (size as u64).rotate_left(17));
        let mut pool = Vec::with_capacity(len + 8);
        while pool.len() < len {
            pool.extend_from_slice(&rng.next_u64().to_le_bytes());
        }
        pool.truncate(len);
        let pool = Bytes::from(pool);
        let md5s = (0..variants).map(|v| md5_hex(&pool[v * STRIDE..v * STRIDE + size])).collect();
        Corpus { pool, size, md5s }
    }

    pub fn variants(&self) -> usize {
        self.md5s.len()
    }

    /// The body of variant `v` (zero-copy).
    pub fn body(&self, v: usize) -> Bytes {
        let start = (v % self.variants()) * STRIDE;
        self.pool.slice(start..start + self.size)
    }

    /// The hex MD5 of variant `v` (the ETag a single PUT of it must return).
    pub fn md5(&self, v: usize) -> &str {
        &self.md5s[v % self.variants()]
    }

    pub fn variant_of(&self, key: &str) -> usize {
        (fnv1a(key) % self.variants() as u64) as usize
    }

    /// What a single PUT of `key` stores, and what a GET of it must return.
    pub fn expect(&self, key: &str) -> Expected {
        let v = self.variant_of(key);
        Expected { segments: vec![self.body(v)], etag: self.md5(v).to_owned() }
    }
}

/// The content a GET must return: the concatenation of `segments`, with ETag `etag` (unquoted).
#[derive(Clone, Debug)]
pub struct Expected {
    pub segments: Vec<Bytes>,
    pub etag: String,
}

impl Expected {
    pub fn len(&self) -> u64 {
        self.segments.iter().map(|s| s.len() as u64).sum()
    }
}

/// Compares a body arriving in arbitrary chunks with the expected segments.
pub struct Verifier<'a> {
    segments: &'a [Bytes],
    seg: usize,
    off: usize,
    pub received: u64,
}

impl<'a> Verifier<'a> {
    pub fn new(segments: &'a [Bytes]) -> Self {
        Verifier { segments, seg: 0, off: 0, received: 0 }
    }

    /// Checks the next chunk; `Err` names the first differing offset.
    pub fn feed(&mut self, mut chunk: &[u8]) -> Result<(), String> {
        while !chunk.is_empty() {
            let Some(seg) = self.segments.get(self.seg) else {
                return Err(format!("body longer than expected at byte {}", self.received));
            };
            let n = (seg.len() - self.off).min(chunk.len());
            if seg[self.off..self.off + n] != chunk[..n] {
                let at = seg[self.off..self.off + n].iter().zip(&chunk[..n]).position(|(a, b)| a != b).unwrap_or(0);
                return Err(format!("body differs at byte {}", self.received + at as u64));
            }
            self.off += n;
            self.received += n as u64;
            chunk = &chunk[n..];
            if self.off == seg.len() {
                self.seg += 1;
                self.off = 0;
            }
        }
        Ok(())
    }

    pub fn finish(&self, expected_len: u64) -> Result<(), String> {
        if self.received != expected_len {
            return Err(format!("body length {} != expected {expected_len}", self.received));
        }
        Ok(())
    }
}

/// The ETag S3 gives a multipart object: MD5 of the concatenated binary part MD5s, "-", count.
pub fn multipart_etag(part_md5s: &[&str]) -> String {
    let mut h = Md5::new();
    for m in part_md5s {
        h.update(hex::decode(m).unwrap_or_default());
    }
    format!("{}-{}", hex::encode(h.finalize()), part_md5s.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variants_differ_and_verify() {
        let c = Corpus::new(10_000, 8, 1);
        assert_ne!(c.body(0), c.body(1));
        assert_eq!(c.md5(3), md5_hex(&c.body(3)));
        let e = c.expect("a/b");
        let mut v = Verifier::new(&e.segments);
        for chunk in e.segments[0].chunks(333) {
            v.feed(chunk).unwrap();
        }
        v.finish(e.len()).unwrap();
        let mut bad = e.segments[0].to_vec();
        bad[5000] ^= 1;
        let mut v = Verifier::new(&e.segments);
        assert!(v.feed(&bad).unwrap_err().contains("5000"));
    }
}
