//! Decoding audio files (mp3, wav, flac, ogg/vorbis) to mono f32 with symphonia.
//!
//! A file that is missing, empty, truncated or undecodable is an error that says which, so
//! the caller can skip the track, count it and name it. Truncation is detected where the
//! container states its length (WAV, FLAC, mp3 with a LAME/Xing header): decoding well
//! short of it means the file was cut.

use std::path::{Path, PathBuf};
use symphonia::core::audio::{AudioBufferRef, SampleBuffer};
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL};
use symphonia::core::errors::Error as SymphoniaError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("{}: file is missing", .0.display())]
    Missing(PathBuf),
    #[error("{}: file is empty (0 bytes)", .0.display())]
    Empty(PathBuf),
    #[error("{}: cannot read", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not a decodable audio file: {message}", path.display())]
    Undecodable { path: PathBuf, message: String },
    #[error("{}: truncated: decoded {decoded:.2} s, less than its header states{}", path.display(), if expected.is_finite() { format!(" ({expected:.2} s)") } else { String::new() })]
    Truncated {
        path: PathBuf,
        decoded: f64,
        expected: f64,
    },
    #[error("{}: no audio could be decoded", .0.display())]
    NoAudio(PathBuf),
}

/// Decoded audio, mixed to mono (the mean of the channels, as librosa's `to_mono`).
#[derive(Debug, Clone)]
pub struct Decoded {
    pub samples: Vec<f32>,
    pub sample_rate: u32,
    pub channels: usize,
}

impl DecodeError {
    pub fn from_io(path: &Path, e: std::io::Error) -> DecodeError {
        match e.kind() {
            std::io::ErrorKind::NotFound => DecodeError::Missing(path.to_path_buf()),
            _ => DecodeError::Unreadable {
                path: path.to_path_buf(),
                source: e,
            },
        }
    }
}

/// Rates outside this range are header damage, not audio (and would make resampling panic,
/// exhaust memory or run for hours).
fn check_rate(path: &Path, rate: u32) -> Result<(), DecodeError> {
    if (1000..=768_000).contains(&rate) {
        Ok(())
    } else {
        Err(DecodeError::Undecodable {
            path: path.to_path_buf(),
            message: format!("implausible sample rate {rate} Hz in the header"),
        })
    }
}

pub fn decode_file(path: &Path) -> Result<Decoded, DecodeError> {
    let meta = std::fs::metadata(path).map_err(|e| DecodeError::from_io(path, e))?;
    if meta.len() == 0 {
        return Err(DecodeError::Empty(path.to_path_buf()));
    }
    if path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("wav"))
    {
        let bytes = std::fs::read(path).map_err(|e| DecodeError::from_io(path, e))?;
        if let Some(w) = super::wavpcm::read_pcm_wav(&bytes) {
            check_rate(path, w.sample_rate)?;
            if w.truncated {
                return Err(DecodeError::Truncated {
                    path: path.to_path_buf(),
                    decoded: w.samples.len() as f64 / w.sample_rate as f64,
                    expected: f64::NAN,
                });
            }
            if w.samples.is_empty() {
                return Err(DecodeError::NoAudio(path.to_path_buf()));
            }
            return Ok(Decoded {
                samples: w.samples,
                sample_rate: w.sample_rate,
                channels: w.channels,
            });
        }
    }
    let file = std::fs::File::open(path).map_err(|source| DecodeError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    let undecodable = |message: String| DecodeError::Undecodable {
        path: path.to_path_buf(),
        message,
    };
    let mss = MediaSourceStream::new(Box::new(file), Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
        hint.with_extension(ext);
    }
    let probed = symphonia::default::get_probe()
        .format(
            &hint,
            mss,
            &FormatOptions::default(),
            &MetadataOptions::default(),
        )
        .map_err(|e| undecodable(e.to_string()))?;
    let mut format = probed.format;
    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| undecodable("no audio track".into()))?;
    let track_id = track.id;
    let params = track.codec_params.clone();
    let sample_rate = params
        .sample_rate
        .ok_or_else(|| undecodable("no sample rate".into()))?;
    let mut decoder = symphonia::default::get_codecs()
        .make(&params, &DecoderOptions::default())
        .map_err(|e| undecodable(e.to_string()))?;

    // The stated length saves regrowing; capped, since a damaged header may state anything.
    let stated = params.n_frames.unwrap_or(0).min(1 << 25) as usize;
    let mut mono: Vec<f32> = Vec::with_capacity(stated);
    let mut channels = params.channels.map(|c| c.count()).unwrap_or(1);
    let (mut packets, mut bad_packets) = (0usize, 0usize);
    let mut trimmed_by_packets = false;
    let mut buf: Option<SampleBuffer<f32>> = None;
    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            // symphonia reports the end of the stream as an unexpected EOF.
            Err(SymphoniaError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                break
            }
            Err(SymphoniaError::ResetRequired) => break,
            Err(e) => {
                if mono.is_empty() {
                    return Err(undecodable(e.to_string()));
                }
                break;
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        packets += 1;
        match decoder.decode(&packet) {
            Ok(audio) => {
                let spec = *audio.spec();
                channels = spec.channels.count().max(1);
                let n = audio.frames();
                // Gapless trimming: the format marks encoder delay and padding per packet.
                let (skip, drop) = (packet.trim_start as usize, packet.trim_end as usize);
                trimmed_by_packets |= skip + drop > 0;
                let skip = skip.min(n);
                let keep = n.saturating_sub(skip).saturating_sub(drop);
                let inv = 1.0 / channels as f32;
                if let AudioBufferRef::F32(planar) = &audio {
                    // Decoders of lossy formats give planar f32: mix the planes straight in.
                    let at = mono.len();
                    let planes = planar.planes();
                    let planes = planes.planes();
                    mono.extend_from_slice(&planes[0][skip..skip + keep]);
                    let out = &mut mono[at..];
                    for plane in &planes[1..] {
                        for (o, v) in out.iter_mut().zip(&plane[skip..skip + keep]) {
                            *o += v;
                        }
                    }
                    if channels > 1 {
                        out.iter_mut().for_each(|o| *o *= inv);
                    }
                } else {
                    let need = audio.capacity() as u64;
                    if buf
                        .as_ref()
                        .is_none_or(|b| b.capacity() < need as usize * channels)
                    {
                        buf = Some(SampleBuffer::new(need, spec));
                    }
                    let b = buf.as_mut().expect("allocated above");
                    b.copy_interleaved_ref(audio);
                    mono.extend(
                        b.samples()
                            .chunks(channels)
                            .skip(skip)
                            .take(keep)
                            .map(|frame| frame.iter().sum::<f32>() * inv),
                    );
                }
            }
            // A damaged frame: mp3 decoders resynchronise on the next one.
            Err(SymphoniaError::DecodeError(_)) => bad_packets += 1,
            Err(e) => return Err(undecodable(e.to_string())),
        }
    }
    if !trimmed_by_packets {
        // Readers that only state the delay and padding (symphonia 0.5's mp3 reader reads
        // them from the LAME tag) leave the trimming to us.
        let delay = (params.delay.unwrap_or(0) as usize).min(mono.len());
        let padding = (params.padding.unwrap_or(0) as usize).min(mono.len() - delay);
        mono.truncate(mono.len() - padding);
        mono.drain(..delay);
    }
    if mono.is_empty() {
        return Err(DecodeError::NoAudio(path.to_path_buf()));
    }
    if bad_packets * 10 > packets.max(1) {
        return Err(undecodable(format!(
            "{bad_packets} of {packets} packets are damaged"
        )));
    }
    if let Some(n) = params.n_frames {
        // Encoder delay and padding make the stated length differ by a few frames; a cut
        // file misses far more.
        if (mono.len() as f64) < 0.9 * n as f64 {
            return Err(DecodeError::Truncated {
                path: path.to_path_buf(),
                decoded: mono.len() as f64 / sample_rate as f64,
                expected: n as f64 / sample_rate as f64,
            });
        }
    }
    Ok(Decoded {
        samples: mono,
        sample_rate,
        channels,
    })
}
