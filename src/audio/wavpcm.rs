//! A direct reader for plain PCM WAV (16-bit integer or 32-bit float, any channel count),
//! the format `agf synth` writes and many datasets ship: parsing the header and converting
//! the samples in one pass is several times faster than a general decoder. Anything else
//! (extensible headers, 24-bit, compressed) returns `None` and goes to symphonia.

/// What the fast path found.
pub struct PcmWav {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub channels: usize,
    /// The data chunk states more bytes than the file holds.
    pub truncated: bool,
}

/// Mono samples (channel mean) and the sample rate, or `None` when this is not a WAV this
/// reader handles.
pub fn read_pcm_wav(bytes: &[u8]) -> Option<PcmWav> {
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return None;
    }
    let u16_at = |i: usize| {
        bytes
            .get(i..i + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let u32_at = |i: usize| {
        bytes
            .get(i..i + 4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let mut pos = 12;
    let mut fmt: Option<(u16, u16, u32, u16)> = None;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = u32_at(pos + 4)? as usize;
        let body = pos + 8;
        if id == b"fmt " {
            fmt = Some((
                u16_at(body)?,
                u16_at(body + 2)?,
                u32_at(body + 4)?,
                u16_at(body + 14)?,
            ));
        } else if id == b"data" {
            let (format, channels, rate, bits) = fmt?;
            let channels = channels as usize;
            if channels == 0 {
                return None;
            }
            let truncated = body + size > bytes.len();
            let end = (body + size).min(bytes.len());
            let data = &bytes[body..end];
            let inv = 1.0 / channels as f32;
            let samples: Vec<f32> = match (format, bits) {
                // Mono 16-bit, the common case, as one straight conversion loop.
                (1, 16) if channels == 1 => data
                    .chunks_exact(2)
                    .map(|s| i16::from_le_bytes([s[0], s[1]]) as f32 * (1.0 / 32768.0))
                    .collect(),
                (1, 16) => data
                    .chunks_exact(2 * channels)
                    .map(|f| {
                        f.chunks_exact(2)
                            .map(|s| i16::from_le_bytes([s[0], s[1]]) as f32 / 32768.0)
                            .sum::<f32>()
                            * inv
                    })
                    .collect(),
                (3, 32) => data
                    .chunks_exact(4 * channels)
                    .map(|f| {
                        f.chunks_exact(4)
                            .map(|s| f32::from_le_bytes([s[0], s[1], s[2], s[3]]))
                            .sum::<f32>()
                            * inv
                    })
                    .collect(),
                _ => return None,
            };
            return Some(PcmWav {
                samples,
                sample_rate: rate,
                channels,
                truncated,
            });
        }
        // Chunks are padded to an even size.
        pos = body + size + (size & 1);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_we_write_and_declines_what_it_does_not_know() {
        let bytes = crate::data::synth::wav::encode_pcm16(&[0.5, -0.25, 0.0], 8000);
        let w = read_pcm_wav(&bytes).unwrap();
        assert_eq!((w.sample_rate, w.channels, w.truncated), (8000, 1, false));
        assert_eq!(w.samples, vec![16384.0 / 32768.0, -8192.0 / 32768.0, 0.0]);
        assert!(read_pcm_wav(&bytes[..bytes.len() - 2]).unwrap().truncated);
        assert!(read_pcm_wav(b"ID3 not a wav at all").is_none());
        let mut odd = bytes.clone();
        odd[34] = 24; // 24-bit: left to symphonia
        assert!(read_pcm_wav(&odd).is_none());
    }
}
