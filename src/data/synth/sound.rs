//! The synthetic world's sounds and the renderer that turns them into samples.
//!
//! A track's audio is a *rhythm* (from its sub-genre: tempo, a 16-step drum pattern,
//! note density, articulation, register, swing) played with a *timbre* (from its artist's
//! group: harmonic decay, FM depth and ratio, brightness, mode, polyphony, noise floor,
//! dynamics). The lead voice is phase-modulated harmonics, summed by the Chebyshev
//! recurrence `sin((h+1)θ) = 2cosθ·sin(hθ) − sin((h−1)θ)` so a note costs two sines per
//! sample whatever its number of harmonics.

use crate::rng::Rng;
use std::f64::consts::PI;

/// What a genre or sub-genre sounds like in time: tempo, groove and articulation.
#[derive(Debug, Clone, PartialEq)]
pub struct RhythmSound {
    pub tempo_bpm: f64,
    /// 16 steps per bar (sixteenth notes).
    pub kick: [bool; 16],
    pub snare: [bool; 16],
    /// Hi-hats per beat: 0, 1, 2 or 4.
    pub hats_per_beat: u32,
    /// Delay of off-beat sixteenths, as a share of a sixteenth.
    pub swing: f64,
    /// Melody notes per beat.
    pub note_density: f64,
    /// Note decay time in seconds (staccato to legato).
    pub note_decay: f64,
    /// MIDI note at the bottom of the melodic register.
    pub register: f64,
    /// Level of the drums against the melody.
    pub drums: f64,
    /// Level of a bass note on every kick.
    pub bass: f64,
}

/// What an artist group sounds like in timbre.
#[derive(Debug, Clone, PartialEq)]
pub struct TimbreSound {
    /// Harmonic amplitudes fall as h^-decay: low is bright, high is dull.
    pub harmonic_decay: f64,
    /// Number of harmonics of the lead voice.
    pub harmonics: usize,
    /// Phase-modulation index (0 = pure harmonic tone).
    pub fm_index: f64,
    /// Modulator frequency as a multiple of the note's.
    pub fm_ratio: f64,
    /// One-pole low-pass coefficient on the melody (0 = open, → 1 = dark).
    pub darkness: f64,
    /// Scale: 0 major, 1 natural minor, 2 dorian, 3 major pentatonic.
    pub mode: usize,
    /// Notes sounding at once (1–3).
    pub polyphony: usize,
    /// Noise floor level.
    pub noise: f64,
    /// Note-to-note loudness variation (0 flat, 1 wide).
    pub dynamics: f64,
    /// Hi-hat brightness (first difference of noise, mixed with plain noise).
    pub hat_brightness: f64,
    /// Semitones added to the genre's register (artists play high or low).
    pub register_offset: f64,
    /// Multiplier of the genre's drum level (artists mix drums loud or soft).
    pub drum_mix: f64,
}

impl RhythmSound {
    /// Distance in a normalised rhythm space, for "similar genre".
    pub fn distance(&self, o: &RhythmSound) -> f64 {
        let pat = |a: &[bool; 16], b: &[bool; 16]| {
            a.iter().zip(b).filter(|(x, y)| x != y).count() as f64 / 16.0
        };
        ((self.tempo_bpm - o.tempo_bpm) / 100.0).powi(2)
            + ((self.note_density - o.note_density) / 3.5).powi(2)
            + ((self.register - o.register) / 36.0).powi(2)
            + ((self.note_decay - o.note_decay) / 0.6).powi(2)
            + pat(&self.kick, &o.kick).powi(2)
            + pat(&self.snare, &o.snare).powi(2)
    }
}

/// A value for each of `n` items, stratified: a Latin-hypercube column in [0, 1).
fn strata(n: usize, rng: &mut Rng) -> Vec<f64> {
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    order
        .into_iter()
        .map(|k| (k as f64 + rng.uniform()) / n as f64)
        .collect()
}

fn pattern(density: f64, anchors: &[usize], rng: &mut Rng) -> [bool; 16] {
    let mut p = [false; 16];
    for &a in anchors {
        p[a] = true;
    }
    for (i, step) in p.iter_mut().enumerate() {
        // On-beat steps are likelier than off-beat ones.
        let w = if i % 4 == 0 {
            1.0
        } else if i % 2 == 0 {
            0.6
        } else {
            0.3
        };
        if rng.bernoulli(density * w) {
            *step = true;
        }
    }
    p
}

/// One rhythm per top-level genre, spread over rhythm space so that none coincide.
pub fn top_genre_rhythms(n: usize, rng: &mut Rng) -> Vec<RhythmSound> {
    let (tempo, density, decay, register, drums, bass, kick_d, snare_d) = (
        strata(n, rng),
        strata(n, rng),
        strata(n, rng),
        strata(n, rng),
        strata(n, rng),
        strata(n, rng),
        strata(n, rng),
        strata(n, rng),
    );
    (0..n)
        .map(|g| RhythmSound {
            tempo_bpm: 70.0 + 100.0 * tempo[g],
            kick: pattern(0.5 * kick_d[g], &[0], rng),
            snare: pattern(
                0.4 * snare_d[g],
                if rng.bernoulli(0.7) {
                    &[4, 12][..]
                } else {
                    &[8][..]
                },
                rng,
            ),
            hats_per_beat: [0, 1, 2, 4][rng.index(4)],
            swing: if rng.bernoulli(0.3) {
                rng.range(0.15, 0.35)
            } else {
                0.0
            },
            note_density: 1.0 + 2.5 * density[g],
            note_decay: 0.1 + 0.4 * decay[g],
            register: 50.0 + 12.0 * register[g],
            drums: 0.35 + 0.4 * drums[g],
            bass: 0.1 + 0.25 * bass[g],
        })
        .collect()
}

/// A sub-genre: its parent's rhythm, nudged (tempo ±8%, a couple of pattern steps flipped).
pub fn subgenre_rhythm(parent: &RhythmSound, rng: &mut Rng) -> RhythmSound {
    let mut r = parent.clone();
    r.tempo_bpm = (r.tempo_bpm * (0.08 * rng.normal()).exp()).clamp(55.0, 190.0);
    r.note_density = (r.note_density * (0.15 * rng.normal()).exp()).clamp(0.3, 5.0);
    r.note_decay = (r.note_decay * (0.15 * rng.normal()).exp()).clamp(0.04, 1.0);
    r.register = (r.register + 3.0 * rng.normal()).clamp(30.0, 80.0);
    for _ in 0..2 {
        let i = rng.index(16);
        if i != 0 {
            r.kick[i] = !r.kick[i];
        }
    }
    let i = rng.index(16);
    r.snare[i] = !r.snare[i];
    r
}

/// One timbre per artist group, stratified over timbre space.
pub fn group_timbres(n: usize, rng: &mut Rng) -> Vec<TimbreSound> {
    let (decay, fm, dark, noise, dynamics, hat) = (
        strata(n, rng),
        strata(n, rng),
        strata(n, rng),
        strata(n, rng),
        strata(n, rng),
        strata(n, rng),
    );
    (0..n)
        .map(|g| TimbreSound {
            harmonic_decay: 0.5 + 2.3 * decay[g],
            harmonics: 4 + rng.index(9),
            fm_index: 2.5 * fm[g] * fm[g],
            fm_ratio: [0.5, 1.0, 2.0, 3.0, 1.5][rng.index(5)],
            darkness: 0.85 * dark[g],
            mode: rng.index(4),
            polyphony: 1 + rng.index(3),
            noise: 0.002 + 0.08 * noise[g] * noise[g],
            dynamics: dynamics[g],
            hat_brightness: hat[g],
            register_offset: 8.0 * rng.normal(),
            drum_mix: (0.4 * rng.normal()).exp(),
        })
        .collect()
}

/// Vary a timbre by a relative amount (artists around their group, albums around artists).
pub fn jitter_timbre(t: &TimbreSound, amount: f64, rng: &mut Rng) -> TimbreSound {
    let scale = |x: f64, rng: &mut Rng| x * (amount * rng.normal()).exp();
    TimbreSound {
        harmonic_decay: scale(t.harmonic_decay, rng).clamp(0.3, 3.5),
        harmonics: t.harmonics,
        fm_index: scale(t.fm_index + 0.02, rng).clamp(0.0, 4.0),
        fm_ratio: t.fm_ratio,
        darkness: (t.darkness + 0.5 * amount * rng.normal()).clamp(0.0, 0.95),
        mode: t.mode,
        polyphony: t.polyphony,
        noise: scale(t.noise, rng).clamp(0.0, 0.2),
        dynamics: (t.dynamics + amount * rng.normal()).clamp(0.0, 1.0),
        hat_brightness: (t.hat_brightness + amount * rng.normal()).clamp(0.0, 1.0),
        register_offset: (t.register_offset + 30.0 * amount * rng.normal()).clamp(-18.0, 18.0),
        drum_mix: scale(t.drum_mix, rng).clamp(0.2, 3.0),
    }
}

const SCALES: [&[i32]; 4] = [
    &[0, 2, 4, 5, 7, 9, 11],
    &[0, 2, 3, 5, 7, 8, 10],
    &[0, 2, 3, 5, 7, 9, 10],
    &[0, 2, 4, 7, 9],
];

fn midi_to_hz(m: f64) -> f64 {
    440.0 * 2f64.powf((m - 69.0) / 12.0)
}

/// Render `n` samples at `sample_rate`.
pub fn render(
    r: &RhythmSound,
    t: &TimbreSound,
    sample_rate: u32,
    n: usize,
    rng: &mut Rng,
) -> Vec<f32> {
    let sr = sample_rate as f64;
    let seconds = n as f64 / sr;
    // Each track plays slightly off its sub-genre's tempo, from a random point in the bar.
    let tempo = r.tempo_bpm * (0.02 * rng.normal()).exp();
    let sixteenth = 60.0 / tempo / 4.0;
    let offset = rng.index(16);
    let scale = SCALES[t.mode % SCALES.len()];
    let root = (r.register + t.register_offset).round() as i32 + rng.int_inclusive(0, 11) as i32;
    let drums = r.drums * t.drum_mix;

    let mut melody = vec![0f64; n];
    let step = 60.0 / tempo / r.note_density;
    let mut time = rng.uniform() * step;
    while time < seconds {
        if rng.bernoulli(0.85) {
            let velocity = 0.3 * (1.0 - t.dynamics * 0.8 * rng.uniform());
            let degree = rng.index(2 * scale.len());
            let dur = (step * rng.range(0.8, 2.0)).min(r.note_decay * 5.0);
            for v in 0..t.polyphony {
                let d = degree + 2 * v; // stacked thirds within the scale
                let midi = root + 12 * (d / scale.len()) as i32 + scale[d % scale.len()];
                note(
                    &mut melody,
                    sr,
                    time,
                    dur,
                    midi_to_hz(midi as f64),
                    velocity / t.polyphony as f64,
                    r,
                    t,
                );
            }
        }
        time += step;
    }
    // Brightness: a one-pole low-pass on the melody bus.
    let mut lp = 0.0;
    for x in melody.iter_mut() {
        lp = t.darkness * lp + (1.0 - t.darkness) * *x;
        *x = lp;
    }

    let mut out = melody;
    let mut k = 0usize;
    loop {
        let step_in_bar = (k + offset) % 16;
        let swing = if step_in_bar % 2 == 1 {
            r.swing * sixteenth
        } else {
            0.0
        };
        let at = k as f64 * sixteenth + swing;
        if at >= seconds {
            break;
        }
        let start = (at * sr) as usize;
        if r.kick[step_in_bar] {
            kick(&mut out, sr, start, 0.5 * drums);
            if r.bass > 0.0 {
                bass(
                    &mut out,
                    sr,
                    start,
                    midi_to_hz((root - 24) as f64),
                    r.bass * 0.3,
                    sixteenth * 2.0,
                );
            }
        }
        if r.snare[step_in_bar] {
            noise_burst(&mut out, sr, start, 0.08, 0.3 * drums, 0.3, rng);
        }
        let hat_every = match r.hats_per_beat {
            0 => usize::MAX,
            1 => 4,
            2 => 2,
            _ => 1,
        };
        if step_in_bar.is_multiple_of(hat_every) {
            noise_burst(
                &mut out,
                sr,
                start,
                0.025,
                0.12 * drums,
                t.hat_brightness,
                rng,
            );
        }
        k += 1;
    }

    // Noise floor, gently low-passed.
    let mut lpn = 0.0;
    for x in out.iter_mut() {
        lpn = 0.6 * lpn + 0.4 * rng.normal();
        *x += t.noise * lpn;
    }
    let peak = out.iter().fold(0f64, |m, x| m.max(x.abs())).max(1e-9);
    let gain = 0.9 / peak * rng.range(0.5, 1.0);
    out.iter().map(|x| (x * gain) as f32).collect()
}

#[allow(clippy::too_many_arguments)]
fn note(
    out: &mut [f64],
    sr: f64,
    t0: f64,
    dur: f64,
    f0: f64,
    amp: f64,
    r: &RhythmSound,
    t: &TimbreSound,
) {
    let start = (t0 * sr) as usize;
    if start >= out.len() {
        return;
    }
    let len = ((dur * sr) as usize).min(out.len() - start);
    let attack = (0.005 * sr).max(1.0);
    // Harmonics above Nyquist would alias; stop below it.
    let harmonics = (1..=t.harmonics)
        .take_while(|h| f0 * *h as f64 * (1.0 + t.fm_index) < sr * 0.45)
        .count()
        .max(1);
    let weights: Vec<f64> = (1..=harmonics)
        .map(|h| amp * (h as f64).powf(-t.harmonic_decay))
        .collect();
    let w = 2.0 * PI * f0 / sr;
    let wm = w * t.fm_ratio;
    let decay = (-1.0 / (r.note_decay * sr)).exp();
    let mut env = 1.0;
    for i in 0..len {
        let theta = w * i as f64 + t.fm_index * (wm * i as f64).sin();
        let (s1, c1) = theta.sin_cos();
        let mut sum = weights[0] * s1;
        let (mut s_prev, mut s_cur) = (0.0, s1);
        for wh in &weights[1..] {
            let s_next = 2.0 * c1 * s_cur - s_prev;
            s_prev = s_cur;
            s_cur = s_next;
            sum += wh * s_cur;
        }
        let a = if (i as f64) < attack {
            i as f64 / attack
        } else {
            1.0
        };
        out[start + i] += a * env * sum;
        env *= decay;
    }
}

fn kick(out: &mut [f64], sr: f64, start: usize, amp: f64) {
    let len = ((0.25 * sr) as usize).min(out.len().saturating_sub(start));
    let mut phase = 0.0;
    for i in 0..len {
        let t = i as f64 / sr;
        phase += 2.0 * PI * (45.0 + 90.0 * (-t / 0.03).exp()) / sr;
        out[start + i] += amp * (-t / 0.12).exp() * phase.sin();
    }
}

fn bass(out: &mut [f64], sr: f64, start: usize, f: f64, amp: f64, dur: f64) {
    let len = ((dur * sr) as usize).min(out.len().saturating_sub(start));
    let w = 2.0 * PI * f / sr;
    for i in 0..len {
        let env = (-(i as f64) / (0.4 * dur * sr)).exp();
        out[start + i] += amp * env * (w * i as f64).sin();
    }
}

fn noise_burst(
    out: &mut [f64],
    sr: f64,
    start: usize,
    decay: f64,
    amp: f64,
    brightness: f64,
    rng: &mut Rng,
) {
    let len = ((decay * 5.0 * sr) as usize).min(out.len().saturating_sub(start));
    let mut prev = 0.0;
    for i in 0..len {
        let t = i as f64 / sr;
        let x = rng.normal();
        // A first difference tilts white noise towards the top octaves (hats), a sum towards
        // the low ones (snare body).
        let y = brightness * (x - prev) + (1.0 - brightness) * 0.5 * (x + prev);
        prev = x;
        out[start + i] += amp * (-t / decay).exp() * y;
    }
}
