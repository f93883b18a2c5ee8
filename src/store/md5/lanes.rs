//! MD5's compression function over up to 16 independent messages at once, one per 32-bit lane
//! of an AVX-512 register. One message's blocks depend on each other, so a single stream cannot
//! go faster than the scalar code (~4.7 cycles per byte here); sixteen streams side by side
//! share every instruction. The lanes are filled by `hub.rs`.

use super::scalar_compress;

/// Lanes of one kernel call.
pub const LANES: usize = 16;

/// Whether the machine runs the 16-lane kernel (checked once).
pub fn available() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| std::arch::is_x86_feature_detected!("avx512f"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Compresses `inputs[i]` into `states[i]` for every i. All inputs hold the same number of
/// whole 64-byte blocks; at most `LANES` of them. One input goes through the scalar code,
/// which is as fast for one stream and has no set-up.
pub fn compress(states: &mut [&mut [u32; 4]], inputs: &[&[u8]]) {
    assert_eq!(states.len(), inputs.len());
    assert!(inputs.len() <= LANES);
    let Some(first) = inputs.first() else { return };
    let len = first.len();
    assert!(len.is_multiple_of(64) && inputs.iter().all(|i| i.len() == len), "inputs differ in length");
    if len == 0 {
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if inputs.len() > 1 && available() {
        // SAFETY: AVX-512F is present (checked above); the lengths were checked.
        unsafe { x86::compress16(states, inputs) };
        return;
    }
    for (s, i) in states.iter_mut().zip(inputs) {
        scalar_compress(s, i);
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::LANES;

    const K: [u32; 64] = [
        0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501, 0x698098d8,
        0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821, 0xf61e2562, 0xc040b340,
        0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8, 0x21e1cde6, 0xc33707d6, 0xf4d50d87,
        0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a, 0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c,
        0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70, 0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039,
        0xe6db99e5, 0x1fa27cf8, 0xc4ac5665, 0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92,
        0xffeff47d, 0x85845dd1, 0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb,
        0xeb86d391,
    ];

    /// Loads word `w` of the current block of every lane: lane l reads `ptrs[l] + 4w`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn word(lo: __m512i, hi: __m512i, w: usize) -> __m512i {
        let off = _mm512_set1_epi64((4 * w) as i64);
        // SAFETY (caller): every lane's pointer has 64 readable bytes.
        let a = unsafe { _mm512_i64gather_epi32::<1>(_mm512_add_epi64(lo, off), std::ptr::null()) };
        let b = unsafe { _mm512_i64gather_epi32::<1>(_mm512_add_epi64(hi, off), std::ptr::null()) };
        _mm512_inserti64x4::<1>(_mm512_castsi256_si512(a), b)
    }

    /// # Safety
    /// AVX-512F must be available; `inputs` are 1..=16 slices of the same non-zero multiple of 64.
    #[target_feature(enable = "avx512f")]
    pub unsafe fn compress16(states: &mut [&mut [u32; 4]], inputs: &[&[u8]]) {
        let n = inputs.len();
        let blocks = inputs[0].len() / 64;
        // Unused lanes read lane 0's data; their results are not stored.
        let mut ptrs = [inputs[0].as_ptr() as i64; LANES];
        let mut st = [[0u32; LANES]; 4];
        for l in 0..n {
            ptrs[l] = inputs[l].as_ptr() as i64;
            for w in 0..4 {
                st[w][l] = states[l][w];
            }
        }
        // SAFETY: the arrays are 16 u32 / 8 i64 wide, exactly one register.
        let (mut a, mut b, mut c, mut d) = unsafe {
            (
                _mm512_loadu_si512(st[0].as_ptr().cast()),
                _mm512_loadu_si512(st[1].as_ptr().cast()),
                _mm512_loadu_si512(st[2].as_ptr().cast()),
                _mm512_loadu_si512(st[3].as_ptr().cast()),
            )
        };
        let mut lo = unsafe { _mm512_loadu_si512(ptrs[..8].as_ptr().cast()) };
        let mut hi = unsafe { _mm512_loadu_si512(ptrs[8..].as_ptr().cast()) };
        let step64 = _mm512_set1_epi64(64);

        macro_rules! step {
            ($f:expr, $a:ident, $b:ident, $c:ident, $d:ident, $m:expr, $i:expr, $s:expr) => {
                let t = _mm512_add_epi32(
                    _mm512_add_epi32($a, _mm512_ternarylogic_epi32::<$f>($b, $c, $d)),
                    _mm512_add_epi32($m, _mm512_set1_epi32(K[$i] as i32)),
                );
                $a = _mm512_add_epi32($b, _mm512_rol_epi32::<$s>(t));
            };
        }
        // Truth tables of vpternlogd over (b, c, d): F = b ? c : d, G = d ? b : c,
        // H = b ^ c ^ d, I = c ^ (b | !d).
        const F: i32 = 0xCA;
        const G: i32 = 0xE4;
        const H: i32 = 0x96;
        const I: i32 = 0x39;

        for _ in 0..blocks {
            // SAFETY: each lane's pointer has `blocks * 64` readable bytes from its start, and
            // advances by 64 per block.
            let m: [__m512i; 16] = std::array::from_fn(|w| unsafe { word(lo, hi, w) });
            let (aa, bb, cc, dd) = (a, b, c, d);

            step!(F, a, b, c, d, m[0], 0, 7);
            step!(F, d, a, b, c, m[1], 1, 12);
            step!(F, c, d, a, b, m[2], 2, 17);
            step!(F, b, c, d, a, m[3], 3, 22);
            step!(F, a, b, c, d, m[4], 4, 7);
            step!(F, d, a, b, c, m[5], 5, 12);
            step!(F, c, d, a, b, m[6], 6, 17);
            step!(F, b, c, d, a, m[7], 7, 22);
            step!(F, a, b, c, d, m[8], 8, 7);
            step!(F, d, a, b, c, m[9], 9, 12);
            step!(F, c, d, a, b, m[10], 10, 17);
            step!(F, b, c, d, a, m[11], 11, 22);
            step!(F, a, b, c, d, m[12], 12, 7);
            step!(F, d, a, b, c, m[13], 13, 12);
            step!(F, c, d, a, b, m[14], 14, 17);
            step!(F, b, c, d, a, m[15], 15, 22);

            step!(G, a, b, c, d, m[1], 16, 5);
            step!(G, d, a, b, c, m[6], 17, 9);
            step!(G, c, d, a, b, m[11], 18, 14);
            step!(G, b, c, d, a, m[0], 19, 20);
            step!(G, a, b, c, d, m[5], 20, 5);
            step!(G, d, a, b, c, m[10], 21, 9);
            step!(G, c, d, a, b, m[15], 22, 14);
            step!(G, b, c, d, a, m[4], 23, 20);
            step!(G, a, b, c, d, m[9], 24, 5);
            step!(G, d, a, b, c, m[14], 25, 9);
            step!(G, c, d, a, b, m[3], 26, 14);
            step!(G, b, c, d, a, m[8], 27, 20);
            step!(G, a, b, c, d, m[13], 28, 5);
            step!(G, d, a, b, c, m[2], 29, 9);
            step!(G, c, d, a, b, m[7], 30, 14);
            step!(G, b, c, d, a, m[12], 31, 20);

            step!(H, a, b, c, d, m[5], 32, 4);
            step!(H, d, a, b, c, m[8], 33, 11);
            step!(H, c, d, a, b, m[11], 34, 16);
            step!(H, b, c, d, a, m[14], 35, 23);
            step!(H, a, b, c, d, m[1], 36, 4);
            step!(H, d, a, b, c, m[4], 37, 11);
            step!(H, c, d, a, b, m[7], 38, 16);
            step!(H, b, c, d, a, m[10], 39, 23);
            step!(H, a, b, c, d, m[13], 40, 4);
            step!(H, d, a, b, c, m[0], 41, 11);
            step!(H, c, d, a, b, m[3], 42, 16);
            step!(H, b, c, d, a, m[6], 43, 23);
            step!(H, a, b, c, d, m[9], 44, 4);
            step!(H, d, a, b, c, m[12], 45, 11);
            step!(H, c, d, a, b, m[15], 46, 16);
            step!(H, b, c, d, a, m[2], 47, 23);

            step!(I, a, b, c, d, m[0], 48, 6);
            step!(I, d, a, b, c, m[7], 49, 10);
            step!(I, c, d, a, b, m[14], 50, 15);
            step!(I, b, c, d, a, m[5], 51, 21);
            step!(I, a, b, c, d, m[12], 52, 6);
            step!(I, d, a, b, c, m[3], 53, 10);
            step!(I, c, d, a, b, m[10], 54, 15);
            step!(I, b, c, d, a, m[1], 55, 21);
            step!(I, a, b, c, d, m[8], 56, 6);
            step!(I, d, a, b, c, m[15], 57, 10);
            step!(I, c, d, a, b, m[6], 58, 15);
            step!(I, b, c, d, a, m[13], 59, 21);
            step!(I, a, b, c, d, m[4], 60, 6);
            step!(I, d, a, b, c, m[11], 61, 10);
            step!(I, c, d, a, b, m[2], 62, 15);
            step!(I, b, c, d, a, m[9], 63, 21);

            a = _mm512_add_epi32(a, aa);
            b = _mm512_add_epi32(b, bb);
            c = _mm512_add_epi32(c, cc);
            d = _mm512_add_epi32(d, dd);
            lo = _mm512_add_epi64(lo, step64);
            hi = _mm512_add_epi64(hi, step64);
        }
        let mut out = [[0u32; LANES]; 4];
        for (o, v) in out.iter_mut().zip([a, b, c, d]) {
            // SAFETY: 16 u32 are one register.
            unsafe { _mm512_storeu_si512(o.as_mut_ptr().cast(), v) };
        }
        for l in 0..n {
            for w in 0..4 {
                states[l][w] = out[w][l];
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{INIT, digest_of};
    use super::*;

    fn data(len: usize, seed: u8) -> Vec<u8> {
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed).rotate_left(i as u32 % 7)).collect()
    }

    #[test]
    fn sixteen_lanes_match_md5_for_any_lane_count() {
        use md5::{Digest, Md5};
        for n in [1, 2, 7, 15, 16] {
            let msgs: Vec<Vec<u8>> = (0..n).map(|l| data(64 * 9, l as u8)).collect();
            let mut states = vec![INIT; n];
            let inputs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();
            let mut refs: Vec<&mut [u32; 4]> = states.iter_mut().collect();
            compress(&mut refs, &inputs);
            for (l, m) in msgs.iter().enumerate() {
                assert_eq!(
                    digest_of(states[l], &[], m.len() as u64),
                    <[u8; 16]>::from(Md5::digest(m)),
                    "n {n} lane {l}"
                );
            }
        }
    }

    /// Throughput of the kernel against the scalar code (not a test of speed: run by hand with
    /// `cargo test --release md5 -- --ignored --nocapture`).
    #[test]
    #[ignore]
    fn kernel_throughput() {
        let msgs: Vec<Vec<u8>> = (0..LANES).map(|l| data(1 << 20, l as u8)).collect();
        let inputs: Vec<&[u8]> = msgs.iter().map(|m| &m[..]).collect();
        let mut states = vec![INIT; LANES];
        let t = std::time::Instant::now();
        for _ in 0..4 {
            let mut refs: Vec<&mut [u32; 4]> = states.iter_mut().collect();
            compress(&mut refs, &inputs);
        }
        let simd = (4 * LANES) as f64 / t.elapsed().as_secs_f64();
        let t = std::time::Instant::now();
        for _ in 0..4 {
            for (s, i) in states.iter_mut().zip(&inputs) {
                scalar_compress(s, i);
            }
        }
        let scalar = (4 * LANES) as f64 / t.elapsed().as_secs_f64();
        println!("16 lanes: {simd:.0} MiB/s, scalar: {scalar:.0} MiB/s");
    }
}
