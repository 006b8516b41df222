//! agf's front end against librosa 0.11 on the same samples (fixtures and the script that
//! made them: tests/fixtures/make_librosa_fixtures.py). Each check prints what it measured.

use agf::audio::chroma::ChromaFilterbank;
use agf::audio::decode::decode_file;
use agf::audio::delta::delta;
use agf::audio::descriptors::{DescriptorExtractor, DescriptorParams};
use agf::audio::npy::read_f32;
use agf::audio::resample::resample;
use agf::audio::stft::Stft;
use agf::audio::{FrontEnd, Spectrogram};
use agf::spec::{FrontendSpec, MelNorm, MelScale, PadMode, WindowKind};
use std::path::{Path, PathBuf};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/librosa")
        .join(name)
}

fn reference(name: &str) -> (Vec<f32>, Vec<usize>) {
    read_f32(&fixture(&format!("{name}.npy"))).unwrap()
}

fn signal() -> Vec<f32> {
    let d = decode_file(&fixture("signal.wav")).unwrap();
    assert_eq!(d.sample_rate, 22050);
    d.samples
}

/// Largest |ours − theirs| over entries where librosa is above its own top_db floor.
fn db_check(name: &str, ours: &Spectrogram, top_db: f32, tol: f32) {
    let (theirs, shape) = reference(name);
    assert_eq!(shape, vec![ours.frames, ours.bins], "{name}: shape");
    let floor = theirs.iter().fold(f32::NEG_INFINITY, |m, v| m.max(*v)) - top_db;
    let (mut worst, mut checked) = (0f32, 0usize);
    for (a, b) in ours.data.iter().zip(&theirs) {
        if *b > floor + 1e-3 {
            worst = worst.max((a - b).abs());
            checked += 1;
        }
    }
    eprintln!("{name}: max |Δ| {worst:.5} dB over {checked} entries above the floor");
    assert!(worst <= tol, "{name}: {worst} dB");
}

/// Largest error relative to max(|theirs|, 1% of the largest |theirs|).
fn rel_check(name: &str, ours: &[f32], tol: f32) -> f32 {
    let (theirs, _) = reference(name);
    assert_eq!(ours.len(), theirs.len(), "{name}: length");
    let scale = theirs.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = ours
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs() / b.abs().max(0.01 * scale))
        .fold(0f32, f32::max);
    eprintln!("{name}: max relative error {worst:.2e}");
    assert!(worst <= tol, "{name}: relative error {worst}");
    worst
}

fn librosa_default() -> FrontendSpec {
    FrontendSpec {
        n_fft: 2048,
        hop_length: 512,
        n_mels: 128,
        n_mfcc: 20,
        ..FrontendSpec::default()
    }
}

#[test]
fn log_mel_mfcc_and_delta_match_librosa_defaults() {
    let y = signal();
    let fe = FrontEnd::new(&librosa_default());
    let lm = fe.log_mel(&y);
    db_check("logmel_default", &lm, 80.0, 0.01);
    let mfcc = fe.mfcc(&lm);
    rel_check("mfcc_default", &mfcc.data, 1e-3);
    rel_check("delta_default", &delta(&mfcc, 9).unwrap().data, 1e-3);
}

#[test]
fn log_mel_matches_the_papers_front_end_and_htk() {
    let y = signal();
    let paper = FrontendSpec {
        n_fft: 1024,
        hop_length: 512,
        window: WindowKind::SqrtHann,
        n_mels: 128,
        power: 1.0,
        amin: 1e-5,
        ..FrontendSpec::default()
    };
    db_check(
        "logmel_paper",
        &FrontEnd::new(&paper).log_mel(&y),
        80.0,
        0.01,
    );
    let htk = FrontendSpec {
        n_fft: 1024,
        hop_length: 256,
        n_mels: 40,
        mel_scale: MelScale::Htk,
        mel_norm: MelNorm::None,
        pad_mode: PadMode::Reflect,
        n_mfcc: 20,
        ..FrontendSpec::default()
    };
    db_check("logmel_htk", &FrontEnd::new(&htk).log_mel(&y), 80.0, 0.01);
}

#[test]
fn chroma_and_descriptors_match_librosa() {
    let y = signal();
    let power =
        Stft::new(2048, 512, WindowKind::Hann, true, PadMode::Constant).spectrogram(&y, 2.0);
    rel_check(
        "chroma",
        &ChromaFilterbank::new(22050.0, 2048, 12, 0.0)
            .apply(&power)
            .data,
        1e-3,
    );
    let e = DescriptorExtractor::new(&DescriptorParams {
        sample_rate: 22050,
        n_fft: 2048,
        hop_length: 512,
        chroma_tuning: 0.0,
    });
    let f = e.frames(&y);
    let row = |name: &str| f.rows.iter().find(|(n, _)| n == name).unwrap().1.clone();
    for name in [
        "spectral_centroid",
        "spectral_bandwidth",
        "spectral_flatness",
        "zcr",
        "rms",
        "onset_strength",
    ] {
        rel_check(name, &row(name), 1e-3);
    }
    // Rolloff picks an FFT bin; rounding may move it by one bin (10.8 Hz) on a tie.
    let (theirs, _) = reference("spectral_rolloff");
    let worst = row("spectral_rolloff")
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("spectral_rolloff: max |Δ| {worst} Hz");
    assert!(worst <= 22050.0 / 2048.0 + 1e-3);
    // Contrast is a difference of dB values: compare in dB.
    let contrast: Vec<f32> = {
        let bands: Vec<Vec<f32>> = (0..7)
            .map(|k| row(&format!("spectral_contrast_{k}")))
            .collect();
        (0..bands[0].len())
            .flat_map(|t| bands.iter().map(move |b| b[t]))
            .collect()
    };
    let (theirs, _) = reference("spectral_contrast");
    let worst = contrast
        .iter()
        .zip(&theirs)
        .map(|(a, b)| (a - b).abs())
        .fold(0f32, f32::max);
    eprintln!("spectral_contrast: max |Δ| {worst:.5} dB");
    assert!(worst <= 0.01);
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture("meta.json")).unwrap()).unwrap();
    let tempo = meta["tempo"].as_f64().unwrap() as f32;
    eprintln!("tempo: agf {} BPM, librosa {tempo} BPM", f.tempo_bpm);
    assert!((f.tempo_bpm - tempo).abs() < 1e-3);
}

/// Zero every FFT bin above `cutoff` Hz.
fn lowpass(x: &[f32], sr: f64, cutoff: f64) -> Vec<f32> {
    let mut planner = realfft::RealFftPlanner::<f64>::new();
    let (fwd, inv) = (
        planner.plan_fft_forward(x.len()),
        planner.plan_fft_inverse(x.len()),
    );
    let mut buf: Vec<f64> = x.iter().map(|v| *v as f64).collect();
    let mut spec = fwd.make_output_vec();
    fwd.process(&mut buf, &mut spec).unwrap();
    for (k, c) in spec.iter_mut().enumerate() {
        if k as f64 * sr / x.len() as f64 > cutoff {
            *c = realfft::num_complex::Complex::new(0.0, 0.0);
        }
    }
    let mut back = inv.make_output_vec();
    inv.process(&mut spec, &mut back).unwrap();
    back.iter().map(|v| (v / x.len() as f64) as f32).collect()
}

fn snr_db(ours: &[f32], theirs: &[f32], skip: usize) -> f64 {
    let n = ours.len().min(theirs.len());
    let (mut s, mut e) = (0f64, 0f64);
    for i in skip..n - skip {
        s += (theirs[i] as f64).powi(2);
        e += (ours[i] as f64 - theirs[i] as f64).powi(2);
    }
    10.0 * (s / e).log10()
}

#[test]
fn resampling_and_mp3_decoding_are_close_to_librosa() {
    let y44 = decode_file(&fixture("signal44.wav")).unwrap();
    let ours = resample(&y44.samples, 44100, 22050);
    let (theirs, _) = reference("resampled_soxr_hq");
    assert!((ours.len() as i64 - theirs.len() as i64).abs() <= 1);
    let snr = snr_db(&ours, &theirs, 256);
    // Our filter (resampy's kaiser_best design) rolls off from 0.9476 of the new Nyquist,
    // soxr_hq later; compare full-band, and below 10 kHz where both pass everything.
    let (lo_ours, lo_theirs) = (
        lowpass(&ours, 22050.0, 10_000.0),
        lowpass(&theirs[..ours.len().min(theirs.len())], 22050.0, 10_000.0),
    );
    let snr_band = snr_db(&lo_ours, &lo_theirs, 256);
    eprintln!("resampling 44.1 → 22.05 kHz against librosa's soxr_hq: SNR {snr:.1} dB full-band, {snr_band:.1} dB below 10 kHz");
    assert!(snr > 30.0);
    assert!(snr_band > 60.0);

    let mp3 = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/fma_mini/fma_small/000/000002.mp3");
    let ours = decode_file(&mp3).unwrap().samples;
    let (theirs, _) = reference("mp3_decoded");
    // Decoders differ in how much encoder delay they trim: align first, then compare.
    let best = (-3000i64..=3000)
        .step_by(1)
        .map(|lag| {
            let (a, b): (&[f32], &[f32]) = if lag >= 0 {
                (&ours[lag as usize..], &theirs[..])
            } else {
                (&ours[..], &theirs[(-lag) as usize..])
            };
            (snr_db(a, b, 2000), lag)
        })
        .fold((f64::NEG_INFINITY, 0), |m, x| if x.0 > m.0 { x } else { m });
    eprintln!(
        "mp3 decoding: SNR {:.1} dB against librosa.load at a lag of {} samples; lengths {} vs {}",
        best.0,
        best.1,
        ours.len(),
        theirs.len()
    );
    assert!(best.0 > 90.0);
    assert_eq!(
        (best.1, ours.len()),
        (0, theirs.len()),
        "gapless decoding trims encoder delay and padding as librosa does"
    );
}
