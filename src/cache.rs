//! The stage cache: content-addressed outputs under `runs/cache/`, so that sweeps recompute
//! nothing that did not change.
//!
//! A key is the SHA-256 of (stage name, stage version, input identity, parameters). Every
//! file appears by write-then-rename, so a reader never sees half an entry, two processes
//! filling the same entry at once both succeed (the bytes are equal; the last rename wins),
//! and a process killed mid-way leaves at most a temporary file that is never read.
//! An entry counts as present only when its completion marker (written last) exists.

use half::f16;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct StageCache {
    root: PathBuf,
}

/// A cache key: hex SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey(pub String);

impl CacheKey {
    pub fn new(stage: &str, version: u32, parts: &[&[u8]]) -> CacheKey {
        let mut h = Sha256::new();
        h.update(stage.as_bytes());
        h.update(version.to_le_bytes());
        for p in parts {
            // Length-prefixed, so that ("ab", "c") and ("a", "bc") differ.
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
        CacheKey(crate::digest::hex(&h.finalize()))
    }
}

impl StageCache {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        StageCache { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `root/<stage>/<first two hex digits>/<key>.<ext>`.
    pub fn path(&self, stage: &str, key: &CacheKey, ext: &str) -> PathBuf {
        self.root
            .join(stage)
            .join(&key.0[..2])
            .join(format!("{}.{ext}", key.0))
    }

    pub fn write(
        &self,
        stage: &str,
        key: &CacheKey,
        ext: &str,
        bytes: &[u8],
    ) -> std::io::Result<PathBuf> {
        let p = self.path(stage, key, ext);
        crate::fsutil::write_atomic(&p, bytes)?;
        Ok(p)
    }

    pub fn read(&self, stage: &str, key: &CacheKey, ext: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(stage, key, ext)).ok()
    }
}

/// Vectors of f32 in a small self-describing file: count, then (length, values) per vector.
pub fn encode_vectors(vectors: &[&[f32]]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&(vectors.len() as u32).to_le_bytes());
    for v in vectors {
        out.extend_from_slice(&(v.len() as u32).to_le_bytes());
        for x in *v {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
    out
}

pub fn decode_vectors(bytes: &[u8]) -> Option<Vec<Vec<f32>>> {
    let u32_at = |i: usize| {
        bytes
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    let n = u32_at(0)?;
    let mut pos = 4;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let len = u32_at(pos)?;
        pos += 4;
        let body = bytes.get(pos..pos + 4 * len)?;
        out.push(
            body.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        );
        pos += 4 * len;
    }
    (pos == bytes.len()).then_some(out)
}

const LOGMEL_MAGIC: &[u8; 8] = b"AGFLMEL1";
const LOGMEL_HEADER: usize = 16;

/// A log-mel spectrogram as half floats behind a 16-byte header (magic, frames, bands):
/// half the size of f32 (the dB values need ~0.01 dB, f16 keeps ~0.03 dB at 80 dB), and
/// memory-mappable by the CNN loader, which reads frames straight from the page cache.
pub fn encode_logmel(frames: usize, bands: usize, data: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(LOGMEL_HEADER + 2 * data.len());
    out.extend_from_slice(LOGMEL_MAGIC);
    out.extend_from_slice(&(frames as u32).to_le_bytes());
    out.extend_from_slice(&(bands as u32).to_le_bytes());
    for v in data {
        out.extend_from_slice(&f16::from_f32(*v).to_le_bytes());
    }
    out
}

/// A memory-mapped log-mel entry.
pub struct LogMelView {
    map: memmap2::Mmap,
    pub frames: usize,
    pub bands: usize,
}

impl LogMelView {
    pub fn open(path: &Path) -> std::io::Result<LogMelView> {
        let file = std::fs::File::open(path)?;
        // Safety: cache entries are never modified in place (they are replaced by rename),
        // so the mapped bytes cannot change under us.
        let map = unsafe { memmap2::Mmap::map(&file)? };
        let bad = || {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("{}: not a log-mel cache entry", path.display()),
            )
        };
        if map.len() < LOGMEL_HEADER || &map[..8] != LOGMEL_MAGIC {
            return Err(bad());
        }
        let frames = u32::from_le_bytes(map[8..12].try_into().expect("4 bytes")) as usize;
        let bands = u32::from_le_bytes(map[12..16].try_into().expect("4 bytes")) as usize;
        if map.len() != LOGMEL_HEADER + 2 * frames * bands {
            return Err(bad());
        }
        Ok(LogMelView { map, frames, bands })
    }

    /// Frames `start..start + n`, as f32, frame-major.
    pub fn frames_f32(&self, start: usize, n: usize) -> Vec<f32> {
        let a = LOGMEL_HEADER + 2 * start * self.bands;
        let b = LOGMEL_HEADER + 2 * (start + n).min(self.frames) * self.bands;
        self.map[a..b]
            .chunks_exact(2)
            .map(|c| f16::from_le_bytes([c[0], c[1]]).to_f32())
            .collect()
    }
}

const FRAMES_MAGIC: &[u8; 8] = b"AGFFRM01";

/// Frame matrices of one track (f32, frame-major) behind a header: magic, the number of
/// matrices, then (frames, bins) of each. Kept as f32: K-Means distances are summed over
/// millions of frames, and these are small next to the log-mels.
pub fn encode_frames(parts: &[(usize, usize, &[f32])]) -> Vec<u8> {
    let body: usize = parts.iter().map(|p| 4 * p.2.len()).sum();
    let mut out = Vec::with_capacity(12 + 8 * parts.len() + body);
    out.extend_from_slice(FRAMES_MAGIC);
    out.extend_from_slice(&(parts.len() as u32).to_le_bytes());
    for (frames, bins, data) in parts {
        debug_assert_eq!(frames * bins, data.len());
        out.extend_from_slice(&(*frames as u32).to_le_bytes());
        out.extend_from_slice(&(*bins as u32).to_le_bytes());
    }
    for (_, _, data) in parts {
        for v in *data {
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// (frames, bins, byte range) of each matrix of a frames entry; `None` if the bytes are not
/// a complete entry.
pub fn frame_parts(bytes: &[u8]) -> Option<Vec<(usize, usize, std::ops::Range<usize>)>> {
    let u32_at = |i: usize| {
        bytes
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize)
    };
    if bytes.get(..8)? != FRAMES_MAGIC {
        return None;
    }
    let n = u32_at(8)?;
    // A damaged header must not make us allocate or index beyond the file.
    if n > bytes.len().saturating_sub(12) / 8 {
        return None;
    }
    let mut pos = 12 + 8 * n;
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (frames, bins) = (u32_at(12 + 8 * i)?, u32_at(16 + 8 * i)?);
        let end = pos.checked_add(frames.checked_mul(bins)?.checked_mul(4)?)?;
        out.push((frames, bins, pos..end));
        pos = end;
    }
    (pos == bytes.len()).then_some(out)
}

/// Bytes of a cache entry: memory-mapped, read from the file on demand (past the process's
/// budget of maps), or in hand when the entry could not be written.
pub enum EntryBytes {
    Mapped(memmap2::Mmap),
    File(PathBuf),
    Owned(Vec<u8>),
}

impl EntryBytes {
    /// `len` bytes from `offset`.
    pub fn read(&self, offset: usize, len: usize, out: &mut dyn FnMut(&[u8])) {
        match self {
            EntryBytes::Mapped(m) => out(&m[offset..offset + len]),
            EntryBytes::Owned(v) => out(&v[offset..offset + len]),
            EntryBytes::File(path) => {
                use std::io::{Read, Seek, SeekFrom};
                let mut buf = vec![0u8; len];
                // Entries are replaced only by rename and never deleted by agf during a run.
                let read = std::fs::File::open(path).and_then(|mut f| {
                    f.seek(SeekFrom::Start(offset as u64))?;
                    f.read_exact(&mut buf)
                });
                if let Err(e) = read {
                    panic!(
                        "the cache entry {} went away during the run ({e}); was the cache cleared?",
                        path.display()
                    );
                }
                out(&buf)
            }
        }
    }
}

impl StageCache {
    /// Map an entry read-only, if it exists.
    pub fn map(&self, stage: &str, key: &CacheKey, ext: &str) -> Option<memmap2::Mmap> {
        let file = std::fs::File::open(self.path(stage, key, ext)).ok()?;
        // Safety: entries are never modified in place (they are replaced by rename), so the
        // mapped bytes cannot change under us.
        unsafe { memmap2::Mmap::map(&file) }.ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_separate_parts_and_entries_round_trip() {
        assert_ne!(
            CacheKey::new("s", 1, &[b"ab", b"c"]),
            CacheKey::new("s", 1, &[b"a", b"bc"])
        );
        assert_ne!(
            CacheKey::new("s", 1, &[b"x"]),
            CacheKey::new("s", 2, &[b"x"])
        );
        let v = encode_vectors(&[&[1.0, 2.0], &[], &[-3.5]]);
        assert_eq!(
            decode_vectors(&v).unwrap(),
            vec![vec![1.0, 2.0], vec![], vec![-3.5]]
        );
        assert!(
            decode_vectors(&v[..v.len() - 1]).is_none(),
            "a cut entry is rejected"
        );
        let f = encode_frames(&[(2, 2, &[1.0, 2.0, 3.0, 4.0]), (1, 3, &[5.0, 6.0, 7.0])]);
        let parts = frame_parts(&f).unwrap();
        assert_eq!(parts[1].0, 1);
        assert_eq!(
            f32::from_le_bytes(f[parts[1].2.start..][..4].try_into().unwrap()),
            5.0
        );
        assert!(frame_parts(&f[..f.len() - 1]).is_none());
        // A header claiming more matrices than the file can hold is refused, not allocated.
        let mut lying = f.clone();
        lying[8..12].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(frame_parts(&lying).is_none());
        // Entries past the map budget are read from their file, with the same bytes.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("e.fr");
        std::fs::write(&path, &f).unwrap();
        let mut got = Vec::new();
        EntryBytes::File(path).read(parts[1].2.start, 4, &mut |b| got.extend_from_slice(b));
        assert_eq!(got, 5f32.to_le_bytes());

        let dir = tempfile::tempdir().unwrap();
        let cache = StageCache::new(dir.path());
        let key = CacheKey::new("logmel", 1, &[b"t"]);
        let data: Vec<f32> = (0..12).map(|i| -80.0 + 7.3 * i as f32).collect();
        let p = cache
            .write("logmel", &key, "lm", &encode_logmel(4, 3, &data))
            .unwrap();
        let view = LogMelView::open(&p).unwrap();
        assert_eq!((view.frames, view.bands), (4, 3));
        let back = view.frames_f32(1, 2);
        assert_eq!(back.len(), 6);
        for (a, b) in back.iter().zip(&data[3..9]) {
            assert!((a - b).abs() < 0.04, "{a} vs {b}");
        }
    }
}
