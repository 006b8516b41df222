//! Row sets that K-Means reads: in memory, or memory-mapped from the frame cache so that
//! tens of millions of frame vectors never sit in memory at once.

/// Fixed-width f32 rows, read by copying (so that mapped files need no alignment).
pub trait Vectors: Sync {
    fn dim(&self) -> usize;
    fn len(&self) -> usize;
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Copy `out.len() / dim` consecutive rows starting at `start` into `out`.
    fn copy_rows(&self, start: usize, out: &mut [f32]);
}

/// Rows held in one row-major buffer.
#[derive(Debug, Clone, PartialEq)]
pub struct DenseVectors {
    pub dim: usize,
    pub data: Vec<f32>,
}

impl DenseVectors {
    pub fn new(dim: usize, data: Vec<f32>) -> Self {
        assert!(
            dim > 0 && data.len().is_multiple_of(dim),
            "rows of {dim} values"
        );
        DenseVectors { dim, data }
    }
}

impl Vectors for DenseVectors {
    fn dim(&self) -> usize {
        self.dim
    }
    fn len(&self) -> usize {
        self.data.len() / self.dim
    }
    fn copy_rows(&self, start: usize, out: &mut [f32]) {
        out.copy_from_slice(&self.data[start * self.dim..start * self.dim + out.len()]);
    }
}

/// Bytes holding little-endian f32 values: in memory, memory-mapped, or read on demand.
pub trait ByteBlock: Sync {
    /// Decode `out.len()` values starting at byte `offset`.
    fn read_f32(&self, offset: usize, out: &mut [f32]);
}

/// Decode little-endian f32 values.
pub fn decode_f32(bytes: &[u8], out: &mut [f32]) {
    for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *o = f32::from_le_bytes([c[0], c[1], c[2], c[3]]);
    }
}

impl ByteBlock for Vec<u8> {
    fn read_f32(&self, offset: usize, out: &mut [f32]) {
        decode_f32(&self[offset..offset + 4 * out.len()], out);
    }
}

/// Byte blocks of f32 rows (one per track, usually parts of cache entries), seen as one
/// row set.
pub struct BlockVectors<B: ByteBlock> {
    dim: usize,
    blocks: Vec<(B, std::ops::Range<usize>)>,
    /// Row index at which each block starts, plus the total at the end.
    starts: Vec<usize>,
}

impl<B: ByteBlock> BlockVectors<B> {
    /// `blocks`: (bytes, the byte range of its rows).
    pub fn new(dim: usize, blocks: Vec<(B, std::ops::Range<usize>)>) -> Self {
        let mut starts = Vec::with_capacity(blocks.len() + 1);
        let mut n = 0;
        for (_, range) in &blocks {
            starts.push(n);
            n += range.len() / (4 * dim);
        }
        starts.push(n);
        BlockVectors {
            dim,
            blocks,
            starts,
        }
    }

    /// Rows of block `i` (one track's frames).
    pub fn block_range(&self, i: usize) -> std::ops::Range<usize> {
        self.starts[i]..self.starts[i + 1]
    }
}

impl<B: ByteBlock> Vectors for BlockVectors<B> {
    fn dim(&self) -> usize {
        self.dim
    }
    fn len(&self) -> usize {
        *self.starts.last().expect("starts holds the total")
    }
    fn copy_rows(&self, start: usize, out: &mut [f32]) {
        let mut row = start;
        let mut filled = 0;
        while filled < out.len() {
            // The block holding `row`: the last start ≤ row.
            // (Empty blocks share their start with the next one; take the last.)
            let b = self.starts.partition_point(|&s| s <= row) - 1;
            let (bytes, range) = &self.blocks[b];
            let in_block = (self.starts[b + 1] - row) * self.dim;
            let take = in_block.min(out.len() - filled);
            let from = range.start + (row - self.starts[b]) * self.dim * 4;
            bytes.read_f32(from, &mut out[filled..filled + take]);
            filled += take;
            row += take / self.dim;
        }
    }
}

/// Rows of another set, standardised per feature on the way out.
pub struct Scaled<'a> {
    pub inner: &'a dyn Vectors,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

impl<'a> Scaled<'a> {
    /// Mean and standard deviation from `fit` (constant features keep a scale of 1).
    pub fn fit(fit: &dyn Vectors) -> (Vec<f32>, Vec<f32>) {
        let d = fit.dim();
        let n = fit.len().max(1);
        let (mut sum, mut sq) = (vec![0f64; d], vec![0f64; d]);
        let mut row = vec![0f32; d];
        for i in 0..fit.len() {
            fit.copy_rows(i, &mut row);
            for j in 0..d {
                sum[j] += row[j] as f64;
                sq[j] += (row[j] as f64).powi(2);
            }
        }
        let mean: Vec<f64> = sum.iter().map(|s| s / n as f64).collect();
        let std = (0..d)
            .map(|j| {
                let v = (sq[j] / n as f64 - mean[j] * mean[j]).max(0.0).sqrt();
                if v > 1e-12 {
                    v as f32
                } else {
                    1.0
                }
            })
            .collect();
        (mean.into_iter().map(|m| m as f32).collect(), std)
    }
}

impl Vectors for Scaled<'_> {
    fn dim(&self) -> usize {
        self.inner.dim()
    }
    fn len(&self) -> usize {
        self.inner.len()
    }
    fn copy_rows(&self, start: usize, out: &mut [f32]) {
        self.inner.copy_rows(start, out);
        for row in out.chunks_exact_mut(self.mean.len()) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_read_as_one_row_set() {
        let enc = |v: &[f32]| -> Vec<u8> {
            let mut b = vec![0xAA; 8]; // an 8-byte header to skip
            for x in v {
                b.extend_from_slice(&x.to_le_bytes());
            }
            b
        };
        let blocks = vec![
            (enc(&[1.0, 2.0, 3.0, 4.0]), 8..24),
            (enc(&[]), 8..8),
            (enc(&[5.0, 6.0, 7.0]), 8..16),
        ];
        let v = BlockVectors::new(2, blocks);
        assert_eq!(v.len(), 3);
        assert_eq!(v.block_range(2), 2..3);
        // The third block's range leaves its last value out.
        let mut out = vec![0.0; 4];
        v.copy_rows(1, &mut out);
        assert_eq!(out, [3.0, 4.0, 5.0, 6.0]);
    }
}
