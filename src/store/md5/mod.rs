//! MD5 for object bodies. Every PUT hashes its body, and MD5 bounds large PUTs: 43% of the
//! server's CPU on 1 MiB PUTs at c=16, at ~700 MB/s per core. On a machine with AVX-512, a body
//! longer than `HUB_FROM` bytes is hashed by one thread together with every other large
//! body in flight, 16 per instruction (`hub.rs`, `lanes.rs`): ~11x the bytes per core.

mod hub;
// SIMD intrinsics are unsafe functions; the module checks the CPU and every length first.
#[allow(unsafe_code)]
mod lanes;

use bytes::Bytes;

/// Bodies hash inline up to here: the hand-off to the hub's thread costs about what hashing
/// 16-32 KiB does, and most small bodies end before.
const HUB_FROM: u64 = 16 * 1024;

/// MD5's initial state.
const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// One stream's whole blocks, one after the other.
#[cfg(target_arch = "x86_64")]
fn scalar_compress(state: &mut [u32; 4], data: &[u8]) {
    debug_assert!(data.len().is_multiple_of(64));
    let (blocks, _) = data.as_chunks::<64>();
    md5_asm::compress(state, blocks);
}

#[cfg(not(target_arch = "x86_64"))]
fn scalar_compress(state: &mut [u32; 4], data: &[u8]) {
    portable::compress(state, data)
}

#[cfg(any(test, not(target_arch = "x86_64")))]
mod portable {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14,
        20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6,
        10, 15, 21,
    ];

    /// RFC 1321, plainly: only for machines without md5-asm.
    pub fn compress(state: &mut [u32; 4], data: &[u8]) {
        let k: [u32; 64] = std::array::from_fn(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32);
        for block in data.chunks_exact(64) {
            let m: [u32; 16] = std::array::from_fn(|i| {
                u32::from_le_bytes([block[4 * i], block[4 * i + 1], block[4 * i + 2], block[4 * i + 3]])
            });
            let [mut a, mut b, mut c, mut d] = *state;
            for i in 0..64 {
                let (f, g) = match i / 16 {
                    0 => ((b & c) | (!b & d), i),
                    1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                    2 => (b ^ c ^ d, (3 * i + 5) % 16),
                    _ => (c ^ (b | !d), (7 * i) % 16),
                };
                let t = a.wrapping_add(f).wrapping_add(k[i]).wrapping_add(m[g]).rotate_left(S[i]);
                (a, d, c) = (d, c, b);
                b = b.wrapping_add(t);
            }
            for (s, v) in state.iter_mut().zip([a, b, c, d]) {
                *s = s.wrapping_add(v);
            }
        }
    }
}

/// The digest of a message whose whole blocks gave `state`, followed by `tail` (< 64 bytes),
/// `len` bytes in all.
fn digest_of(mut state: [u32; 4], tail: &[u8], len: u64) -> [u8; 16] {
    debug_assert!(tail.len() < 64);
    let mut last = [0u8; 128];
    last[..tail.len()].copy_from_slice(tail);
    last[tail.len()] = 0x80;
    let end = if tail.len() < 56 { 64 } else { 128 };
    last[end - 8..end].copy_from_slice(&len.wrapping_mul(8).to_le_bytes());
    scalar_compress(&mut state, &last[..end]);
    let mut out = [0u8; 16];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// An MD5 in progress: the state after the whole blocks, and the bytes after them.
#[derive(Clone)]
struct Blocks {
    state: [u32; 4],
    tail: [u8; 64],
    tail_len: usize,
    len: u64,
}

impl Default for Blocks {
    fn default() -> Self {
        Blocks { state: INIT, tail: [0; 64], tail_len: 0, len: 0 }
    }
}

impl Blocks {
    /// Counts `data` in and cuts it: a block completed from the tail (if one is), the range of
    /// `data`'s whole blocks after it, and what is left becomes the new tail.
    fn cut(&mut self, data: &[u8]) -> (Option<[u8; 64]>, std::ops::Range<usize>) {
        self.len += data.len() as u64;
        let mut start = 0;
        let mut carried = None;
        if self.tail_len > 0 {
            start = (64 - self.tail_len).min(data.len());
            self.tail[self.tail_len..self.tail_len + start].copy_from_slice(&data[..start]);
            self.tail_len += start;
            if self.tail_len < 64 {
                return (None, start..start);
            }
            carried = Some(self.tail);
            self.tail_len = 0;
        }
        let end = start + (data.len() - start) / 64 * 64;
        let left = &data[end..];
        self.tail[..left.len()].copy_from_slice(left);
        self.tail_len = left.len();
        (carried, start..end)
    }

    fn update(&mut self, data: &[u8]) {
        let (carried, whole) = self.cut(data);
        if let Some(block) = carried {
            scalar_compress(&mut self.state, &block);
        }
        scalar_compress(&mut self.state, &data[whole]);
    }

    fn digest(&self) -> [u8; 16] {
        digest_of(self.state, &self.tail[..self.tail_len], self.len)
    }
}

/// The MD5 of a body arriving in chunks.
#[derive(Default)]
pub struct BodyMd5 {
    blocks: Blocks,
    hub: Option<hub::Stream>,
    /// Chunks not yet handed to the hub, and their bytes.
    held: Vec<Bytes>,
    held_len: usize,
}

/// Chunks go to the hub in batches of about this much: one wake-up of its thread per batch,
/// and rounds long enough for other bodies' batches to arrive meanwhile.
const PUSH_BATCH: usize = 256 * 1024;

impl BodyMd5 {
    pub fn new() -> Self {
        Self::default()
    }

    /// Hashes `chunk`, or queues it for the hub (waiting if this body's queue is full).
    pub async fn update(&mut self, chunk: &Bytes) {
        // Hyper's first chunk of a large body is often hundreds of KiB: decide before hashing it.
        if self.hub.is_none()
            && self.blocks.len + chunk.len() as u64 > HUB_FROM
            && lanes::available()
            && let Some(hub) = hub::Hub::global()
        {
            self.hub = Some(hub.open(self.blocks.clone()));
        }
        let Some(stream) = self.hub.as_mut() else {
            return self.blocks.update(chunk);
        };
        self.held_len += chunk.len();
        self.held.push(chunk.clone());
        if self.held_len >= PUSH_BATCH {
            self.held_len = 0;
            stream.push(&mut self.held).await;
        }
    }

    /// The digest; `None` only if the hub's thread is gone.
    pub async fn finish(mut self) -> Option<[u8; 16]> {
        match self.hub {
            Some(mut stream) => {
                stream.push(&mut self.held).await;
                stream.finish().await
            }
            None => Some(self.blocks.digest()),
        }
    }
}

#[cfg(test)]
mod tests {
    use md5::{Digest, Md5};

    use super::*;

    fn data(len: usize, seed: u32) -> Vec<u8> {
        let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
        (0..len)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect()
    }

    #[test]
    fn portable_compress_matches_md5() {
        for len in [0, 1, 55, 56, 63, 64, 65, 1000] {
            let d = data(len, 3);
            let whole = len / 64 * 64;
            let mut state = INIT;
            portable::compress(&mut state, &d[..whole]);
            let mut s2 = INIT;
            scalar_compress(&mut s2, &d[..whole]);
            assert_eq!(state, s2);
            assert_eq!(digest_of(state, &d[whole..], len as u64), <[u8; 16]>::from(Md5::digest(&d)), "{len}");
        }
    }

    /// Bodies of many sizes, chunked at odd boundaries, hashed concurrently (so through the hub
    /// whenever the machine has AVX-512), give the MD5 of their bytes.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_bodies_hash_right() {
        let sizes = [0usize, 1, 63, 64, 65, 4096, 32 * 1024, 32 * 1024 + 1, 100_000, 1 << 20, (3 << 20) + 17];
        let mut tasks = Vec::new();
        for (i, &size) in sizes.iter().cycle().take(40).enumerate() {
            tasks.push(tokio::spawn(async move {
                let d = Bytes::from(data(size, i as u32));
                let mut h = BodyMd5::new();
                let mut off = 0;
                let mut step = 1 + i * 977 % 70_000;
                while off < d.len() {
                    let end = (off + step).min(d.len());
                    h.update(&d.slice(off..end)).await;
                    off = end;
                    step = step * 7 % 90_001 + 1;
                }
                let got = h.finish().await.expect("digest");
                assert_eq!(got, <[u8; 16]>::from(Md5::digest(&d)), "size {size} task {i}");
            }));
        }
        for t in tasks {
            t.await.expect("task");
        }
    }

    #[tokio::test]
    async fn an_abandoned_body_leaves_the_hub() {
        let d = Bytes::from(data(200_000, 9));
        let mut h = BodyMd5::new();
        h.update(&d).await;
        h.update(&d).await;
        drop(h);
        // The hub still serves the next body.
        let mut h = BodyMd5::new();
        h.update(&d).await;
        h.update(&d).await;
        let both = [&d[..], &d[..]].concat();
        assert_eq!(h.finish().await, Some(<[u8; 16]>::from(Md5::digest(&both))));
    }
}
