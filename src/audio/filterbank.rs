//! A bank of linear filters (a mel or chroma filterbank, a DCT) applied to frames, each
//! filter a run of weights from some first input. Frames go eight at a time through an
//! input-major copy, so each weight is one 8-lane multiply-add across frames: per frame,
//! a mel triangle is only a handful of bins, too short for a vectorised dot product to pay
//! for its reduction. Each output is summed in one fixed order, whatever the machine or the
//! number of frames (a blocked matrix product's order follows the processor's cache sizes).

pub struct Filterbank {
    n_in: usize,
    /// Per filter: first input and the weights from there on.
    bands: Vec<(usize, Vec<f32>)>,
}

impl Filterbank {
    /// Filters given as runs of weights, each starting at its own first input.
    pub fn sparse(n_in: usize, bands: Vec<(usize, Vec<f32>)>) -> Self {
        assert!(
            bands.iter().all(|(first, w)| first + w.len() <= n_in),
            "a filter reaches past the input"
        );
        Filterbank { n_in, bands }
    }

    /// Row-major `n_out × n_in` weights, every one kept (zeros included).
    pub fn dense(n_in: usize, weights: &[f32]) -> Self {
        assert!(
            n_in > 0 && weights.len().is_multiple_of(n_in),
            "weights are not whole rows"
        );
        let bands = weights
            .chunks_exact(n_in)
            .map(|w| (0, w.to_vec()))
            .collect();
        Filterbank { n_in, bands }
    }

    pub fn bands(&self) -> &[(usize, Vec<f32>)] {
        &self.bands
    }

    /// The filters applied to every frame of a `frames × n_in` matrix.
    pub fn apply(&self, rows: &[f32]) -> Vec<f32> {
        let mut out = vec![0f32; rows.len() / self.n_in.max(1) * self.bands.len()];
        self.apply_rows(rows, &mut out);
        out
    }

    /// The filters applied to consecutive frames: `rows` is `frames × n_in`, `out`
    /// `frames × n_out`.
    pub fn apply_rows(&self, rows: &[f32], out: &mut [f32]) {
        let frames = rows.len() / self.n_in;
        assert!(
            rows.len() == frames * self.n_in && out.len() == frames * self.bands.len(),
            "input rows and filter outputs disagree on the frame count"
        );
        #[cfg(target_arch = "x86_64")]
        if crate::simd::avx2_fma() {
            // Safety: the features were detected on this processor.
            return unsafe { self.apply_rows_avx2(rows, out) };
        }
        self.apply_rows_portable(rows, out)
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn apply_rows_avx2(&self, rows: &[f32], out: &mut [f32]) {
        self.apply_rows_with(rows, out, |block, by_bin| {
            // Safety: AVX is enabled on this function.
            unsafe { transpose_rows_avx(block, by_bin) }
        })
    }

    fn apply_rows_portable(&self, rows: &[f32], out: &mut [f32]) {
        self.apply_rows_with(rows, out, transpose_rows)
    }

    #[inline(always)]
    fn apply_rows_with(
        &self,
        rows: &[f32],
        out: &mut [f32],
        transpose: impl Fn(&[f32], &mut [f32]),
    ) {
        let mut by_bin = vec![0f32; self.n_in * LANES];
        for (block, dst) in rows
            .chunks(self.n_in * LANES)
            .zip(out.chunks_mut(self.bands.len() * LANES))
        {
            let lanes = block.len() / self.n_in;
            transpose(block, &mut by_bin);
            for (m, (first, w)) in self.bands.iter().enumerate() {
                let mut acc = [0f32; LANES];
                for (wk, col) in w.iter().zip(by_bin[first * LANES..].chunks_exact(LANES)) {
                    for l in 0..LANES {
                        acc[l] += wk * col[l];
                    }
                }
                for l in 0..lanes {
                    dst[l * self.bands.len() + m] = acc[l];
                }
            }
        }
    }
}

const LANES: usize = 8;

/// Up to [`LANES`] rows of `n` bins (`rows`, row-major) into `by_bin[k · LANES + l]`; lanes
/// past the last row keep whatever they held (their sums are never written out).
fn transpose_rows(rows: &[f32], by_bin: &mut [f32]) {
    let n = by_bin.len() / LANES;
    for (l, row) in rows.chunks_exact(n).enumerate() {
        for (k, v) in row.iter().enumerate() {
            by_bin[k * LANES + l] = *v;
        }
    }
}

/// [`transpose_rows`] for a full block, by 8 × 8 register transposes (scalar stores with a
/// stride of eight were most of the filterbank's time).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose_rows_avx(rows: &[f32], by_bin: &mut [f32]) {
    use std::arch::x86_64::*;
    let n = by_bin.len() / LANES;
    if rows.len() != n * LANES {
        return transpose_rows(rows, by_bin);
    }
    let whole = n / LANES * LANES;
    let (src, dst) = (rows.as_ptr(), by_bin.as_mut_ptr());
    for k0 in (0..whole).step_by(LANES) {
        // Safety: rows has LANES rows of n ≥ k0 + 8 values; by_bin has n · LANES values.
        unsafe {
            let r: [__m256; 8] = std::array::from_fn(|l| _mm256_loadu_ps(src.add(l * n + k0)));
            let t0 = _mm256_unpacklo_ps(r[0], r[1]);
            let t1 = _mm256_unpackhi_ps(r[0], r[1]);
            let t2 = _mm256_unpacklo_ps(r[2], r[3]);
            let t3 = _mm256_unpackhi_ps(r[2], r[3]);
            let t4 = _mm256_unpacklo_ps(r[4], r[5]);
            let t5 = _mm256_unpackhi_ps(r[4], r[5]);
            let t6 = _mm256_unpacklo_ps(r[6], r[7]);
            let t7 = _mm256_unpackhi_ps(r[6], r[7]);
            let u0 = _mm256_shuffle_ps::<0x44>(t0, t2);
            let u1 = _mm256_shuffle_ps::<0xEE>(t0, t2);
            let u2 = _mm256_shuffle_ps::<0x44>(t1, t3);
            let u3 = _mm256_shuffle_ps::<0xEE>(t1, t3);
            let u4 = _mm256_shuffle_ps::<0x44>(t4, t6);
            let u5 = _mm256_shuffle_ps::<0xEE>(t4, t6);
            let u6 = _mm256_shuffle_ps::<0x44>(t5, t7);
            let u7 = _mm256_shuffle_ps::<0xEE>(t5, t7);
            let cols = [
                _mm256_permute2f128_ps::<0x20>(u0, u4),
                _mm256_permute2f128_ps::<0x20>(u1, u5),
                _mm256_permute2f128_ps::<0x20>(u2, u6),
                _mm256_permute2f128_ps::<0x20>(u3, u7),
                _mm256_permute2f128_ps::<0x31>(u0, u4),
                _mm256_permute2f128_ps::<0x31>(u1, u5),
                _mm256_permute2f128_ps::<0x31>(u2, u6),
                _mm256_permute2f128_ps::<0x31>(u3, u7),
            ];
            for (k, c) in cols.iter().enumerate() {
                _mm256_storeu_ps(dst.add((k0 + k) * LANES), *c);
            }
        }
    }
    for k in whole..n {
        for l in 0..LANES {
            by_bin[k * LANES + l] = rows[l * n + k];
        }
    }
}
