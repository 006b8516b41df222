//! The synthetic music world: a seeded generator of genres, artists, albums and audio.
//!
//! It is the embedded default dataset (no downloads) and the oracle of the test suite: the
//! generator knows each track's true genre and the style its artist plays in, and keeps that
//! in a [`GroundTruth`] that the pipeline never sees unless evaluation code asks for it.
//!
//! Each genre is a sound: a tempo range, a timbre (harmonic decay and FM depth), a register,
//! a note density, a drum kit balance and a noise floor. Genres are spread over that space by
//! a Latin-hypercube draw so that no two coincide; artists vary around their genre, albums
//! around their artist, so that tracks of one artist resemble each other more than tracks of
//! the genre at large (the structure artist leakage exploits).
//!
//! Audio is rendered on demand from (seed, track), so generating is parallel and memory is
//! bounded; the same seed always gives the same samples.

use super::{
    AlbumId, ArtistId, AudioError, AudioSource, Clip, Dataset, Genre, GenreId, Track, TrackId,
};
use crate::rng::Rng;
use crate::spec::SyntheticSpec;
use std::f64::consts::PI;
use std::sync::Arc;

/// A point in sound space; genres, artists and albums each hold one.
#[derive(Debug, Clone, PartialEq)]
pub struct Style {
    pub tempo_bpm: f64,
    /// Harmonic amplitudes fall as h^-decay: low is bright, high is dull.
    pub harmonic_decay: f64,
    /// Frequency-modulation index of the lead voice (0 = pure harmonic tone).
    pub fm_index: f64,
    /// MIDI note at the bottom of the melodic register.
    pub register: f64,
    /// Notes per beat.
    pub note_density: f64,
    /// Note decay time in seconds.
    pub note_decay: f64,
    /// Level of kick and snare relative to the melody.
    pub drums: f64,
    /// Level of hi-hats.
    pub hats: f64,
    /// Level of the background noise floor.
    pub noise: f64,
    /// Minor (true) or major (false) scale.
    pub minor: bool,
}

/// What the generator knows and the pipeline must not: true genres and styles.
#[derive(Debug, Clone)]
pub struct GroundTruth {
    /// True genre class index per track, in dataset track order.
    pub true_genre: Vec<usize>,
    /// Each genre's sound.
    pub genre_styles: Vec<Style>,
}

/// A generated world: the dataset the pipeline reads, and the truth kept apart.
pub struct SyntheticWorld {
    dataset: Dataset,
    truth: GroundTruth,
}

impl SyntheticWorld {
    /// Generate the world's metadata; audio is rendered lazily by the dataset's source.
    pub fn generate(spec: &SyntheticSpec, seed: u64) -> Self {
        let mut rng = Rng::derive(seed, "world", 0);
        let genre_styles = latin_hypercube_styles(spec.genres, &mut rng);
        let genres: Vec<Genre> = (0..spec.genres)
            .map(|g| Genre {
                id: GenreId(g as u32 + 1),
                title: genre_title(g),
            })
            .collect();

        let mut tracks = Vec::new();
        let mut styles = Vec::new();
        let mut true_genre = Vec::new();
        let mut next_album = 1u32;
        let mut next_track = 1u32;
        for a in 0..spec.artists {
            let artist = ArtistId(a as u32 + 1);
            // Round-robin then shuffle keeps genres balanced to within one artist.
            let genre = a % spec.genres;
            let artist_style = jitter(&genre_styles[genre], 0.18, &mut rng);
            let n_albums = rng.int_inclusive(
                spec.albums_per_artist[0] as u64,
                spec.albums_per_artist[1] as u64,
            );
            for _ in 0..n_albums {
                let album = AlbumId(next_album);
                next_album += 1;
                let album_style = jitter(&artist_style, 0.06, &mut rng);
                let n_tracks = rng.int_inclusive(
                    spec.tracks_per_album[0] as u64,
                    spec.tracks_per_album[1] as u64,
                );
                for _ in 0..n_tracks {
                    let id = TrackId(next_track);
                    next_track += 1;
                    tracks.push(Track {
                        id,
                        artist,
                        album,
                        genre,
                        title: format!("Track {id}"),
                    });
                    styles.push(jitter(&album_style, 0.03, &mut rng));
                    true_genre.push(genre);
                }
            }
        }
        let renderer = Renderer {
            seed,
            sample_rate: spec.sample_rate,
            samples: (spec.clip_seconds * spec.sample_rate as f64).round() as usize,
            styles: Arc::new(styles),
            first_track: 1,
        };
        SyntheticWorld {
            dataset: Dataset {
                name: format!("synthetic(seed={seed})"),
                genres,
                tracks,
                audio: Box::new(renderer),
            },
            truth: GroundTruth {
                true_genre,
                genre_styles,
            },
        }
    }

    /// The dataset as the pipeline sees it.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// Give the dataset to the pipeline, keeping the truth for evaluation.
    pub fn into_parts(self) -> (Dataset, GroundTruth) {
        (self.dataset, self.truth)
    }

    /// The truth: only evaluation and audit code should call this.
    pub fn ground_truth(&self) -> &GroundTruth {
        &self.truth
    }
}

fn genre_title(g: usize) -> String {
    const NAMES: [&str; 16] = [
        "Rock",
        "Electronic",
        "Hip-Hop",
        "Folk",
        "Pop",
        "Jazz",
        "Classical",
        "Instrumental",
        "Experimental",
        "International",
        "Country",
        "Blues",
        "Soul-RnB",
        "Spoken",
        "Old-Time",
        "Easy Listening",
    ];
    match NAMES.get(g) {
        Some(n) => n.to_string(),
        None => format!("Genre {}", g + 1),
    }
}

/// One style per genre, each dimension stratified so genres differ in every respect.
fn latin_hypercube_styles(n: usize, rng: &mut Rng) -> Vec<Style> {
    let strata = |rng: &mut Rng| {
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        order
            .into_iter()
            .map(|k| (k as f64 + rng.uniform()) / n as f64)
            .collect::<Vec<f64>>()
    };
    let tempo = strata(rng);
    let decay = strata(rng);
    let fm = strata(rng);
    let register = strata(rng);
    let density = strata(rng);
    let note_decay = strata(rng);
    let drums = strata(rng);
    let hats = strata(rng);
    let noise = strata(rng);
    (0..n)
        .map(|g| Style {
            tempo_bpm: 70.0 + 100.0 * tempo[g],
            harmonic_decay: 0.6 + 2.2 * decay[g],
            fm_index: 2.5 * fm[g],
            register: 36.0 + 36.0 * register[g],
            note_density: 0.5 + 3.5 * density[g],
            note_decay: 0.08 + 0.6 * note_decay[g],
            drums: 0.05 + 0.9 * drums[g],
            hats: 0.02 + 0.5 * hats[g],
            noise: 0.003 + 0.12 * noise[g] * noise[g],
            minor: rng.bernoulli(0.5),
        })
        .collect()
}

/// Vary a style by a relative amount (multiplicative log-normal-ish jitter, additive on pitch).
fn jitter(s: &Style, amount: f64, rng: &mut Rng) -> Style {
    let scale = |x: f64, rng: &mut Rng| x * (amount * rng.normal()).exp();
    Style {
        tempo_bpm: scale(s.tempo_bpm, rng).clamp(50.0, 200.0),
        harmonic_decay: scale(s.harmonic_decay, rng).clamp(0.3, 4.0),
        fm_index: scale(s.fm_index + 0.05, rng).clamp(0.0, 4.0),
        register: (s.register + 12.0 * amount * rng.normal()).clamp(28.0, 84.0),
        note_density: scale(s.note_density, rng).clamp(0.25, 6.0),
        note_decay: scale(s.note_decay, rng).clamp(0.04, 1.2),
        drums: scale(s.drums, rng).clamp(0.0, 1.2),
        hats: scale(s.hats, rng).clamp(0.0, 0.8),
        noise: scale(s.noise, rng).clamp(0.0, 0.3),
        minor: if rng.bernoulli(amount * 0.5) {
            !s.minor
        } else {
            s.minor
        },
    }
}

/// Renders a track's clip from its style, deterministically from (seed, track id).
struct Renderer {
    seed: u64,
    sample_rate: u32,
    samples: usize,
    styles: Arc<Vec<Style>>,
    first_track: u32,
}

impl AudioSource for Renderer {
    fn load(&self, track: &Track) -> Result<Clip, AudioError> {
        let index = track
            .id
            .0
            .checked_sub(self.first_track)
            .map(|i| i as usize)
            .filter(|i| *i < self.styles.len())
            .ok_or_else(|| AudioError::Unavailable {
                track: track.id,
                reason: "not a track of this synthetic world".into(),
            })?;
        let mut rng = Rng::derive(self.seed, "audio", track.id.0 as u64);
        Ok(Clip {
            samples: render(
                &self.styles[index],
                self.sample_rate,
                self.samples,
                &mut rng,
            ),
            sample_rate: self.sample_rate,
        })
    }

    fn describe(&self) -> String {
        format!(
            "synthetic audio, {} Hz, {:.1} s clips",
            self.sample_rate,
            self.samples as f64 / self.sample_rate as f64
        )
    }
}

const MAJOR: [i32; 7] = [0, 2, 4, 5, 7, 9, 11];
const MINOR: [i32; 7] = [0, 2, 3, 5, 7, 8, 10];

fn midi_to_hz(m: f64) -> f64 {
    440.0 * 2f64.powf((m - 69.0) / 12.0)
}

/// Synthesise one clip: melody (harmonic/FM voice), kick, snare, hats and a noise floor.
pub fn render(style: &Style, sample_rate: u32, n: usize, rng: &mut Rng) -> Vec<f32> {
    let sr = sample_rate as f64;
    let mut out = vec![0f64; n];
    let beat = 60.0 / style.tempo_bpm;
    let step = beat / style.note_density;
    let scale = if style.minor { &MINOR } else { &MAJOR };
    let root = style.register.round() as i32 + rng.int_inclusive(0, 11) as i32;

    // Melody: notes on a grid of `step`, some rests, random scale degrees over two octaves.
    let mut t = rng.uniform() * step;
    let nyquist = sr / 2.0;
    while t < n as f64 / sr {
        if rng.bernoulli(0.85) {
            let degree = rng.index(14);
            let midi = root + 12 * (degree / 7) as i32 + scale[degree % 7];
            let f0 = midi_to_hz(midi as f64);
            let dur = (step * rng.range(0.8, 2.0)).min(style.note_decay * 5.0);
            let amp = 0.3 * rng.range(0.6, 1.0);
            add_note(&mut out, sr, t, dur, f0, amp, style, nyquist);
        }
        t += step;
    }

    // Drums: kick on beats 1 and 3, snare on 2 and 4, hats on eighths.
    let mut beat_index = 0usize;
    let mut tb = rng.uniform() * beat * 0.25;
    while tb < n as f64 / sr {
        let start = (tb * sr) as usize;
        if beat_index % 2 == 0 {
            add_kick(&mut out, sr, start, style.drums * 0.5);
        } else {
            add_noise_burst(&mut out, sr, start, 0.09, style.drums * 0.25, false, rng);
        }
        for half in 0..2 {
            let th = start + (half as f64 * beat * 0.5 * sr) as usize;
            add_noise_burst(&mut out, sr, th, 0.03, style.hats * 0.2, true, rng);
        }
        beat_index += 1;
        tb += beat;
    }

    // Noise floor, gently low-passed.
    let mut lp = 0.0;
    for x in out.iter_mut() {
        lp = 0.7 * lp + 0.3 * rng.normal();
        *x += style.noise * lp;
    }

    let peak = out.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-9);
    let gain = 0.9 / peak * rng.range(0.5, 1.0);
    out.iter().map(|x| (x * gain) as f32).collect()
}

#[allow(clippy::too_many_arguments)]
fn add_note(
    out: &mut [f64],
    sr: f64,
    t0: f64,
    dur: f64,
    f0: f64,
    amp: f64,
    s: &Style,
    nyquist: f64,
) {
    let start = (t0 * sr) as usize;
    let len = ((dur * sr) as usize).min(out.len().saturating_sub(start));
    let attack = (0.005 * sr).max(1.0);
    let fm_ratio = 2.0;
    for h in 1..=10 {
        let fh = f0 * h as f64;
        if fh >= nyquist * 0.9 {
            break;
        }
        let a_h = amp * (h as f64).powf(-s.harmonic_decay);
        let w = 2.0 * PI * fh / sr;
        let wm = 2.0 * PI * f0 * fm_ratio / sr;
        let index = s.fm_index / h as f64;
        let (mut phase, mut phase_m) = (0.0f64, 0.0f64);
        let mut env = 1.0;
        let decay = (-1.0 / (s.note_decay * sr)).exp();
        for i in 0..len {
            let a = if (i as f64) < attack {
                i as f64 / attack
            } else {
                1.0
            };
            out[start + i] += a_h * a * env * (phase + index * phase_m.sin()).sin();
            phase += w;
            phase_m += wm;
            env *= decay;
        }
    }
}

fn add_kick(out: &mut [f64], sr: f64, start: usize, amp: f64) {
    let len = ((0.25 * sr) as usize).min(out.len().saturating_sub(start));
    let mut phase = 0.0;
    for i in 0..len {
        let t = i as f64 / sr;
        let f = 45.0 + 90.0 * (-t / 0.03).exp();
        phase += 2.0 * PI * f / sr;
        out[start + i] += amp * (-t / 0.12).exp() * phase.sin();
    }
}

fn add_noise_burst(
    out: &mut [f64],
    sr: f64,
    start: usize,
    decay: f64,
    amp: f64,
    bright: bool,
    rng: &mut Rng,
) {
    let len = ((decay * 5.0 * sr) as usize).min(out.len().saturating_sub(start));
    let mut prev = 0.0;
    for i in 0..len {
        let t = i as f64 / sr;
        let x = rng.normal();
        // A first difference tilts white noise to the top octaves: hats, not snares.
        let y = if bright { x - prev } else { 0.5 * (x + prev) };
        prev = x;
        out[start + i] += amp * (-t / decay).exp() * y;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SyntheticSpec {
        SyntheticSpec {
            genres: 4,
            artists: 12,
            albums_per_artist: [1, 2],
            tracks_per_album: [2, 3],
            clip_seconds: 1.0,
            sample_rate: 8000,
        }
    }

    #[test]
    fn same_seed_same_world_other_seed_other_world() {
        let a = SyntheticWorld::generate(&small(), 5);
        let b = SyntheticWorld::generate(&small(), 5);
        let c = SyntheticWorld::generate(&small(), 6);
        assert_eq!(a.dataset().tracks, b.dataset().tracks);
        let t = &a.dataset().tracks[3];
        let xa = a.dataset().audio.load(t).unwrap().samples;
        let xb = b.dataset().audio.load(t).unwrap().samples;
        assert_eq!(xa, xb);
        let xc = c
            .dataset()
            .audio
            .load(&c.dataset().tracks[3])
            .unwrap()
            .samples;
        assert_ne!(xa, xc);
        assert_eq!(xa.len(), 8000);
        assert!(xa.iter().all(|x| x.is_finite() && x.abs() <= 0.9 + 1e-6));
    }

    #[test]
    fn counts_follow_the_spec() {
        let spec = small();
        let w = SyntheticWorld::generate(&spec, 1);
        let d = w.dataset();
        assert_eq!(d.artist_count(), 12);
        assert_eq!(d.genres.len(), 4);
        let albums = d.album_count();
        assert!((12..=24).contains(&albums), "{albums} albums");
        assert!((albums * 2..=albums * 3).contains(&d.tracks.len()));
        // Every genre has 3 artists (round-robin over 12 artists).
        for g in 0..4 {
            let mut artists: Vec<_> = d
                .tracks
                .iter()
                .filter(|t| t.genre == g)
                .map(|t| t.artist)
                .collect();
            artists.dedup();
            assert_eq!(artists.len(), 3);
        }
        assert_eq!(w.ground_truth().true_genre.len(), d.tracks.len());
    }

    #[test]
    fn foreign_track_is_an_error_not_a_panic() {
        let w = SyntheticWorld::generate(&small(), 1);
        let mut t = w.dataset().tracks[0].clone();
        t.id = TrackId(99_999);
        assert!(w.dataset().audio.load(&t).is_err());
    }
}
