//! Benchmarks: throughput measured and printed, never asserted. Comparisons with the tool a
//! researcher would otherwise use run side by side in the same invocation.

use crate::audio::decode::decode_file;
use crate::audio::delta::delta;
use crate::audio::descriptors::{DescriptorExtractor, DescriptorParams};
use crate::audio::resample::resample;
use crate::audio::FrontEnd;
use crate::data::synth::wav::encode_pcm16;
use crate::data::synth::SyntheticWorld;
use crate::spec::{FrontendSpec, SyntheticSpec};
use rayon::prelude::*;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

mod audit;
mod cnn;
mod factors;
mod report;
mod store;
mod sweep;
pub use audit::audit;
pub use cnn::{cnn, CnnBench};
pub use factors::{factors, FactorBench};
pub use report::report;
pub use store::store;
pub use sweep::sweep;

/// librosa's side, timed on the same files; prints one JSON line.
const LIBROSA_SCRIPT: &str = r#"
import json, resource, sys, time
def peak_mb():  # VmHWM: ru_maxrss would include the parent process (kept across exec)
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
import librosa
wavs, mp3s = json.loads(sys.argv[1]), json.loads(sys.argv[2])
def feats(y):
    S = librosa.power_to_db(librosa.feature.melspectrogram(y=y, sr=22050, n_fft=2048, hop_length=512, n_mels=128))
    m = librosa.feature.mfcc(S=S, n_mfcc=20)
    librosa.feature.delta(m)
def descriptors(y, sr=22050):
    # The track-level descriptor set as a researcher would compute it with librosa: what
    # agf's descriptor stage reproduces (each row summarised by seven statistics).
    import numpy as np, scipy.stats
    F = librosa.feature
    S = np.abs(librosa.stft(y, n_fft=2048, hop_length=512))
    rows = [F.spectral_centroid(S=S, sr=sr)[0], F.spectral_bandwidth(S=S, sr=sr)[0],
            F.spectral_rolloff(S=S, sr=sr)[0], F.spectral_flatness(S=S)[0]]
    rows += list(F.spectral_contrast(S=S, sr=sr))
    rows += [F.zero_crossing_rate(y)[0], F.rms(y=y)[0]]
    rows += list(F.chroma_stft(S=S**2, sr=sr, tuning=0.0))
    onset = librosa.onset.onset_strength(y=y, sr=sr)
    rows.append(onset)
    F.tempo(onset_envelope=onset, sr=sr)
    for r in rows:
        (r.mean(), r.std(), r.min(), r.max(), np.median(r), scipy.stats.skew(r), scipy.stats.kurtosis(r))
out = {}
for name, files, kw in [("wav", wavs, dict(sr=None)), ("mp3", mp3s, dict(sr=22050, mono=True))]:
    if not files:
        continue
    librosa.load(files[0], **kw)  # warm-up: imports, caches, JIT
    best_dec, best_feat, secs = 1e9, 1e9, 0.0
    for _ in range(3):
        t0 = time.perf_counter(); ys = [librosa.load(f, **kw)[0] for f in files]; t1 = time.perf_counter()
        for y in ys: feats(y)
        t2 = time.perf_counter()
        best_dec, best_feat = min(best_dec, t1 - t0), min(best_feat, t2 - t1)
        secs = sum(len(y) for y in ys) / 22050.0
    out[name] = {"decode_s": best_dec, "features_s": best_feat, "audio_s": secs}
    if name == "wav":
        descriptors(ys[0])  # warm-up
        best = 1e9
        for _ in range(2):
            t0 = time.perf_counter()
            for y in ys: descriptors(y)
            best = min(best, time.perf_counter() - t0)
        out[name]["descriptors_s"] = best
out["max_rss_mb"] = peak_mb()
out["librosa"] = librosa.__version__
print(json.dumps(out))
"#;

/// The median of `v` (sorted in place; the mean of the middle two for an even count).
pub(crate) fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub(crate) fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace()
        .nth(1)?
        .parse::<f64>()
        .ok()
        .map(|kb| kb / 1024.0)
}

struct Timing {
    /// Decoding and resampling together.
    decode_s: f64,
    /// The track-level descriptor set (FMA's statistics of librosa's descriptors).
    descriptors_s: f64,
    /// The resampling part of `decode_s`.
    resample_s: f64,
    features_s: f64,
    audio_s: f64,
}

fn time_ours(
    files: &[PathBuf],
    target: u32,
    threads: usize,
    fe: &FrontEnd,
) -> Result<Timing, String> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| e.to_string())?;
    pool.install(|| {
        let mut best = Timing {
            decode_s: f64::INFINITY,
            resample_s: f64::INFINITY,
            features_s: f64::INFINITY,
            descriptors_s: f64::INFINITY,
            audio_s: 0.0,
        };
        let extractor = DescriptorExtractor::new(&DescriptorParams {
            sample_rate: target,
            n_fft: 2048,
            hop_length: 512,
            chroma_tuning: 0.0,
        });
        for _ in 0..3 {
            let t0 = Instant::now();
            let decoded: Vec<_> = files
                .par_iter()
                .map(|f| decode_file(f).map_err(|e| crate::errors::one_line(&e)))
                .collect::<Result<_, _>>()?;
            let tr = Instant::now();
            let ys: Vec<Vec<f32>> = decoded
                .into_par_iter()
                .map(|d| crate::audio::resample::resample_owned(d.samples, d.sample_rate, target))
                .collect();
            let t1 = Instant::now();
            ys.par_iter().for_each(|y| {
                let lm = fe.log_mel(y);
                let m = fe.mfcc(&lm);
                std::hint::black_box(delta(&m, 9));
            });
            let t2 = Instant::now();
            ys.par_iter().for_each(|y| {
                std::hint::black_box(extractor.summarise(y));
            });
            best.descriptors_s = best.descriptors_s.min(t2.elapsed().as_secs_f64());
            best.decode_s = best.decode_s.min((t1 - t0).as_secs_f64());
            best.resample_s = best.resample_s.min((t1 - tr).as_secs_f64());
            best.features_s = best.features_s.min((t2 - t1).as_secs_f64());
            best.audio_s = ys.iter().map(|y| y.len()).sum::<usize>() as f64 / target as f64;
        }
        Ok(best)
    })
}

/// Write `clips` synthetic clips of `seconds` as 22.05 kHz mono WAV, and (with `lame`) as
/// 44.1 kHz stereo mp3 at 256 kbit/s, FMA's usual format; run both front ends on both.
pub fn frontend(
    dir: &Path,
    clips: usize,
    seconds: f64,
    with_librosa: bool,
) -> Result<String, String> {
    let spec = SyntheticSpec {
        artists: clips.max(3),
        albums_per_artist: [1, 1],
        tracks_per_album: [3, 3],
        clip_seconds: seconds,
        sample_rate: 22050,
        ..SyntheticSpec::default()
    };
    let world = SyntheticWorld::generate(&spec, 1);
    let tracks: Vec<_> = world.dataset().tracks.iter().take(clips).cloned().collect();
    let have_lame = std::process::Command::new("lame")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let mut wavs = Vec::new();
    let mut mp3s = Vec::new();
    for t in &tracks {
        let y = world.render(t).map_err(|e| e.to_string())?.samples;
        let wav = dir.join(format!("{}.wav", t.id));
        std::fs::write(&wav, encode_pcm16(&y, 22050)).map_err(|e| e.to_string())?;
        wavs.push(wav);
        if have_lame {
            let up = resample(&y, 22050, 44100);
            let stereo: Vec<f32> = up
                .iter()
                .enumerate()
                .flat_map(|(i, v)| [*v, 0.9 * v + 0.05 * up[i.saturating_sub(7)]])
                .collect();
            let wav44 = dir.join(format!("{}_44k.wav", t.id));
            std::fs::write(&wav44, stereo_wav(&stereo, 44100)).map_err(|e| e.to_string())?;
            let mp3 = dir.join(format!("{}.mp3", t.id));
            let ok = std::process::Command::new("lame")
                .args(["--quiet", "-b", "256"])
                .arg(&wav44)
                .arg(&mp3)
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                mp3s.push(mp3);
            }
        }
    }
    let fe = FrontEnd::new(&FrontendSpec {
        n_fft: 2048,
        hop_length: 512,
        n_mels: 128,
        n_mfcc: 20,
        ..FrontendSpec::default()
    });
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let mut out = String::new();
    let _ = writeln!(out, "front-end benchmark: {} clips of {seconds} s; log-mel (2048/512, 128 bands) + MFCC (20) + delta; {cores} cores", tracks.len());
    let mut ours = Vec::new();
    for (name, files) in [
        ("wav 22.05 kHz mono", &wavs),
        ("mp3 44.1 kHz stereo 256k", &mp3s),
    ] {
        if files.is_empty() {
            let _ = writeln!(out, "{name}: skipped (install `lame` to make mp3s)");
            ours.push(None);
            continue;
        }
        let one = time_ours(files, 22050, 1, &fe)?;
        let all = time_ours(files, 22050, cores, &fe)?;
        let _ = writeln!(
            out,
            "agf     {name:<26} decode{} {:>8.0} s/s per core, features {:>8.0} s/s per core; all cores: {:>8.0} and {:>8.0} s/s",
            if name.starts_with("mp3") { "+resample" } else { "" },
            one.audio_s / one.decode_s,
            one.audio_s / one.features_s,
            all.audio_s / all.decode_s,
            all.audio_s / all.features_s
        );
        if name.starts_with("wav") {
            let _ = writeln!(
                out,
                "        descriptor set (26 rows × 7 statistics + tempo) {:>8.0} s/s per core; all cores: {:>8.0} s/s",
                one.audio_s / one.descriptors_s,
                all.audio_s / all.descriptors_s
            );
        }
        if one.resample_s > 0.01 * one.decode_s {
            let _ = writeln!(
                out,
                "        of which decoding alone {:>8.0} s/s per core, resampling alone {:>8.0} s/s per core",
                one.audio_s / (one.decode_s - one.resample_s),
                one.audio_s / one.resample_s
            );
        }
        ours.push(Some(one));
    }
    let _ = writeln!(
        out,
        "agf peak memory (whole benchmark process): {:.0} MB",
        peak_rss_mb().unwrap_or(f64::NAN)
    );
    if !with_librosa {
        return Ok(out);
    }
    let script = dir.join("librosa_bench.py");
    std::fs::write(&script, LIBROSA_SCRIPT).map_err(|e| e.to_string())?;
    let list = |v: &Vec<PathBuf>| {
        serde_json::to_string(
            &v.iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>(),
        )
        .expect("json")
    };
    let run = std::process::Command::new("python3")
        .arg(&script)
        .arg(list(&wavs))
        .arg(list(&mp3s))
        .envs([
            ("OMP_NUM_THREADS", "1"),
            ("NUMBA_NUM_THREADS", "1"),
            ("OPENBLAS_NUM_THREADS", "1"),
            ("MKL_NUM_THREADS", "1"),
        ])
        .output();
    let parsed: Option<serde_json::Value> = run
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| serde_json::from_slice(&o.stdout).ok());
    let Some(lib) = parsed else {
        let _ = writeln!(
            out,
            "librosa: not run (python3 with librosa not found: pip install librosa)"
        );
        return Ok(out);
    };
    for (key, name, timing) in [
        ("wav", "wav 22.05 kHz mono", &ours[0]),
        ("mp3", "mp3 44.1 kHz stereo 256k", &ours[1]),
    ] {
        let (Some(l), Some(o)) = (lib.get(key), timing) else {
            continue;
        };
        let f = |k: &str| l[k].as_f64().unwrap_or(f64::NAN);
        let (ld, lf) = (f("audio_s") / f("decode_s"), f("audio_s") / f("features_s"));
        let (od, of) = (o.audio_s / o.decode_s, o.audio_s / o.features_s);
        let _ = writeln!(
            out,
            "librosa {name:<26} decode {ld:>8.0} s/s per core, features {lf:>8.0} s/s per core"
        );
        let _ = writeln!(out, "ratio (agf / librosa, one core each): decode {:.1}×, features {:.1}×, decode + features {:.1}×", od / ld, of / lf, (1.0 / ld + 1.0 / lf) / (1.0 / od + 1.0 / of));
        if let Some(ls) = l.get("descriptors_s").and_then(|v| v.as_f64()) {
            let (lds, ods) = (f("audio_s") / ls, o.audio_s / o.descriptors_s);
            let _ = writeln!(
                out,
                "librosa {:<26} descriptor set {lds:>8.0} s/s per core; ratio {:.1}×",
                "",
                ods / lds
            );
        }
    }
    let _ = writeln!(
        out,
        "librosa {} peak memory: {:.0} MB",
        lib["librosa"].as_str().unwrap_or("?"),
        lib["max_rss_mb"].as_f64().unwrap_or(f64::NAN)
    );
    Ok(out)
}

fn stereo_wav(interleaved: &[f32], sr: u32) -> Vec<u8> {
    let mut mono_header = encode_pcm16(&[], sr);
    // Patch the header of an empty mono file into a stereo one.
    let data_len = (interleaved.len() * 2) as u32;
    mono_header[4..8].copy_from_slice(&(36 + data_len).to_le_bytes());
    mono_header[22..24].copy_from_slice(&2u16.to_le_bytes());
    mono_header[28..32].copy_from_slice(&(sr * 4).to_le_bytes());
    mono_header[32..34].copy_from_slice(&4u16.to_le_bytes());
    mono_header[40..44].copy_from_slice(&data_len.to_le_bytes());
    for s in interleaved {
        mono_header
            .extend_from_slice(&((s.clamp(-1.0, 1.0) * 32767.0).round() as i16).to_le_bytes());
    }
    mono_header
}

/// A folder for a benchmark's files, removed when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new() -> std::io::Result<Scratch> {
        let dir = std::env::temp_dir().join(format!("agf-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir)?;
        Ok(Scratch(dir))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Parse a generated `tracks.csv` of `rows` rows (FMA's full size by default): FMA-like
/// shapes, ~6.5 tracks per album and ~2.5 albums per artist.
pub fn metadata(dir: &Path, rows: usize) -> Result<String, String> {
    metadata_inner(dir, rows).map_err(|e| crate::errors::one_line(e.as_ref()))
}

fn metadata_inner(dir: &Path, rows: usize) -> Result<String, Box<dyn std::error::Error>> {
    use crate::data::synth::fma_layout;
    let spec = SyntheticSpec {
        artists: (rows / 16).max(3),
        albums_per_artist: [1, 4],
        tracks_per_album: [3, 10],
        clip_seconds: 0.1,
        sample_rate: 8000,
        ..SyntheticSpec::default()
    };
    let world = SyntheticWorld::generate(&spec, 1);
    let path = fma_layout::write_metadata(&world, dir, "large")?;
    let bytes = std::fs::metadata(&path)?.len();
    let t = Instant::now();
    let tracks = crate::data::fma::load_tracks(&path)?;
    let secs = t.elapsed().as_secs_f64();
    Ok(format!(
        "parsed {} rows ({:.1} MB) of {} in {:.3} s: {:.0} rows/s, {:.1} MB/s\n",
        tracks.len(),
        bytes as f64 / 1e6,
        path.display(),
        secs,
        tracks.len() as f64 / secs,
        bytes as f64 / 1e6 / secs
    ))
}
