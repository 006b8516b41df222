//! Fixed-width f32 row sets and their per-column standardisation: rows in memory, or
//! memory-mapped from the frame cache so that tens of millions of frame vectors never sit in
//! memory at once. K-Means reads them, features are written as them, and the models'
//! inputs are standardised by the one [`Standardizer`] here.

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

/// Per-column mean and scale, fitted on some rows (training rows only, so that held-out
/// statistics never leak into a model) and applied to any. As scikit-learn's
/// `StandardScaler`: the population standard deviation, and a scale of 1 for a column whose
/// variance is within floating-point error of zero (`_is_constant_feature`), so a constant
/// column maps to 0 instead of blowing up.
#[derive(Debug, Clone, PartialEq)]
pub struct Standardizer {
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// Per-column sums, accumulated in f64 around each column's first value: a constant column
/// then has exactly zero variance, and a large offset (MFCC 0 near −300) costs no precision
/// in one pass.
#[derive(Debug, Clone)]
pub struct ColumnMoments {
    shift: Vec<f64>,
    sum: Vec<f64>,
    sq: Vec<f64>,
    rows: usize,
}

impl ColumnMoments {
    pub fn new(cols: usize) -> Self {
        ColumnMoments {
            shift: Vec::with_capacity(cols),
            sum: vec![0.0; cols],
            sq: vec![0.0; cols],
            rows: 0,
        }
    }

    /// Add row-major rows (any whole number of them).
    pub fn add(&mut self, rows: &[f32]) {
        let cols = self.sum.len();
        for row in rows.chunks_exact(cols) {
            if self.shift.is_empty() {
                self.shift.extend(row.iter().map(|v| *v as f64));
            }
            for (j, v) in row.iter().enumerate() {
                let d = *v as f64 - self.shift[j];
                self.sum[j] += d;
                self.sq[j] += d * d;
            }
            self.rows += 1;
        }
    }

    pub fn finish(self) -> Standardizer {
        let n = self.rows.max(1) as f64;
        let eps = f64::EPSILON;
        let mut mean = Vec::with_capacity(self.sum.len());
        let mut std = Vec::with_capacity(self.sum.len());
        for j in 0..self.sum.len() {
            let shift = self.shift.get(j).copied().unwrap_or(0.0);
            let d = self.sum[j] / n;
            let m = shift + d;
            let var = (self.sq[j] / n - d * d).max(0.0);
            // scikit-learn's bound on the error of a variance computed in floating point.
            let bound = n * eps * var + (n * m * eps).powi(2);
            let constant = var <= bound || var.sqrt() < 10.0 * eps;
            mean.push(m as f32);
            std.push(if constant { 1.0 } else { var.sqrt() as f32 });
        }
        Standardizer { mean, std }
    }
}

impl Standardizer {
    /// Fit on every row of `rows`.
    pub fn fit(rows: &dyn Vectors) -> Self {
        let d = rows.dim();
        let mut moments = ColumnMoments::new(d);
        let block = 4096;
        let mut buf = vec![0f32; block * d];
        for start in (0..rows.len()).step_by(block) {
            let n = block.min(rows.len() - start);
            rows.copy_rows(start, &mut buf[..n * d]);
            moments.add(&buf[..n * d]);
        }
        moments.finish()
    }

    /// Fit on row-major `x` of `cols` columns.
    pub fn fit_rows(x: &[f32], cols: usize) -> Self {
        let mut moments = ColumnMoments::new(cols);
        moments.add(x);
        moments.finish()
    }

    /// Standardise row-major rows in place.
    pub fn apply(&self, rows: &mut [f32]) {
        for row in rows.chunks_exact_mut(self.mean.len()) {
            for ((v, m), s) in row.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
    }

    /// Standardised copy of row-major rows.
    pub fn applied(&self, rows: &[f32]) -> Vec<f32> {
        let mut out = rows.to_vec();
        self.apply(&mut out);
        out
    }
}

/// Rows of another set, standardised per column on the way out.
pub struct Scaled<'a> {
    pub inner: &'a dyn Vectors,
    pub scale: Standardizer,
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
        self.scale.apply(out);
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

    #[test]
    fn standardizer_by_hand_and_constant_columns() {
        // Column 0 sees 1, 3, 5, 7 (mean 4, std √5); column 1 is constant at a large offset.
        let x = [1.0, 1e6, 3.0, 1e6, 5.0, 1e6, 7.0, 1e6];
        let s = Standardizer::fit_rows(&x, 2);
        assert_eq!(s.mean, vec![4.0, 1e6]);
        assert_eq!(s.std, vec![5f32.sqrt(), 1.0]);
        assert_eq!(s.applied(&[4.0, 1e6]), vec![0.0, 0.0]);
        // Streaming over a row set gives the same as one slice.
        let dense = DenseVectors::new(2, x.to_vec());
        assert_eq!(Standardizer::fit(&dense), s);
        let mut m = ColumnMoments::new(2);
        m.add(&x[..4]);
        m.add(&x[4..]);
        assert_eq!(m.finish(), s);
    }
}
