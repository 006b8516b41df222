//! The real-FMA path: exact parsing of hand-made files in FMA's format, bad audio skipped
//! and named, errors with file/line/column, and a full run on what `agf synth` writes.

use agf::audio::decode::{decode_file, DecodeError};
use agf::data::fma::{load_dataset, load_features, load_genres, load_tracks};
use agf::data::split::SplitName;
use agf::data::{AlbumId, GenreId, TrackId};
use agf::record::{ModelName, SplitKey};
use agf::spec::{FmaSpec, FmaSubset};
use common::{open_store, write};
use std::path::{Path, PathBuf};

mod common;

fn mini() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fma_mini")
}

#[test]
fn tracks_csv_is_parsed_exactly() {
    let tracks = load_tracks(&mini().join("fma_metadata/tracks.csv")).unwrap();
    assert_eq!(tracks.len(), 10);
    let t2 = &tracks[0];
    assert_eq!(t2.id, TrackId(2));
    assert_eq!(t2.album, Some(AlbumId(1)));
    assert_eq!(t2.artist_name, "AWOL");
    assert_eq!(t2.genre_top.as_deref(), Some("Rock"));
    assert_eq!(t2.genres, vec![GenreId(25)]);
    assert_eq!(t2.genres_all, vec![GenreId(12), GenreId(25)]);
    assert_eq!(t2.tags, vec!["punk".to_string(), "it's".to_string()]);
    assert_eq!(t2.split, Some(SplitName::Train));
    assert_eq!(t2.subset, Some(FmaSubset::Small));
    assert_eq!(t2.duration, Some(2.0));
    assert_eq!(t2.bit_rate, Some(64000));
    let t20 = tracks.iter().find(|t| t.id == TrackId(20)).unwrap();
    assert_eq!(t20.album, None, "album id -1 means no album");
    assert_eq!(t20.tags, vec!["ambient, dark".to_string()]);
    let t30 = tracks.iter().find(|t| t.id == TrackId(30)).unwrap();
    assert_eq!(t30.genre_top, None, "empty genre_top");
    let t46 = tracks.iter().find(|t| t.id == TrackId(46)).unwrap();
    assert_eq!(
        t46.title, "Spirit of\nthe Water",
        "newline inside a quoted field"
    );
    assert_eq!(
        t46.album_title, "Every Man, \"One\"",
        "comma and quotes inside a quoted field"
    );
    let genres = load_genres(&mini().join("fma_metadata/genres.csv")).unwrap();
    assert_eq!(genres.len(), 5);
    assert_eq!(genres.iter().filter(|g| g.parent.is_none()).count(), 3);
}

fn fma_spec(subset: FmaSubset) -> FmaSpec {
    FmaSpec {
        root: mini(),
        subset,
        audio_dir: Some("fma_small".into()),
        audio_ext: None,
        features_csv: false,
        min_seconds: 1.0,
    }
}

#[test]
fn subsets_nest_and_tracks_without_genre_top_are_left_out_and_counted() {
    let (small, report, _) = load_dataset(&fma_spec(FmaSubset::Small)).unwrap();
    assert_eq!(small.tracks.len(), 5);
    assert_eq!(report.without_genre_top, 0);
    assert_eq!(small.genre_titles(), vec!["Rock", "Electronic"]);
    let (medium, report, _) = load_dataset(&fma_spec(FmaSubset::Medium)).unwrap();
    assert_eq!(
        (
            report.in_subset,
            report.without_genre_top,
            medium.tracks.len()
        ),
        (8, 1, 7)
    );
    let (full, report, _) = load_dataset(&fma_spec(FmaSubset::Full)).unwrap();
    assert_eq!((report.rows, full.tracks.len()), (10, 9));
    assert_eq!(
        full.genre_titles(),
        vec!["Rock", "Electronic", "Experimental"]
    );
    // Track 20 has no album: it is an album of its own, not grouped with other album-less tracks.
    let t20 = full.tracks.iter().find(|t| t.id == TrackId(20)).unwrap();
    assert!(full.tracks.iter().filter(|t| t.album == t20.album).count() == 1);
}

#[test]
fn bad_audio_is_named_for_what_it_is() {
    let dir = mini().join("fma_small/000");
    let ok = decode_file(&dir.join("000002.mp3")).unwrap();
    assert_eq!((ok.sample_rate, ok.channels), (44100, 2));
    let secs = ok.samples.len() as f64 / 44100.0;
    assert!((secs - 2.0).abs() < 0.1, "decoded {secs} s of a 2 s mp3");
    assert!(matches!(
        decode_file(&dir.join("000005.mp3")),
        Err(DecodeError::Empty(_))
    ));
    assert!(matches!(
        decode_file(&dir.join("000026.mp3")),
        Err(DecodeError::Missing(_))
    ));
    let truncated = decode_file(&dir.join("000010.mp3"));
    assert!(
        matches!(truncated, Err(DecodeError::Truncated { .. })),
        "{truncated:?}"
    );
    let msg = truncated.unwrap_err().to_string();
    assert!(msg.contains("000010.mp3: truncated: decoded"), "{msg}");
    let garbage = tempfile::NamedTempFile::with_suffix(".mp3").unwrap();
    std::fs::write(
        garbage.path(),
        b"this is not audio at all, just text pretending to be an mp3",
    )
    .unwrap();
    assert!(matches!(
        decode_file(garbage.path()),
        Err(DecodeError::Undecodable { .. })
    ));
}

/// Copy the fixture's metadata into a temp dir with one edit applied to tracks.csv.
fn broken(edit: impl Fn(String) -> String) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("fma_metadata")).unwrap();
    let text = std::fs::read_to_string(mini().join("fma_metadata/tracks.csv")).unwrap();
    let path = write(&dir.path().join("fma_metadata"), "tracks.csv", &edit(text));
    std::fs::copy(
        mini().join("fma_metadata/genres.csv"),
        dir.path().join("fma_metadata/genres.csv"),
    )
    .unwrap();
    (dir, path)
}

#[test]
fn bad_metadata_names_file_line_and_column() {
    let (_d, p) = broken(|t| t.replacen(",genre_top,", ",genre_topp,", 1));
    let e = load_tracks(&p).unwrap_err().to_string();
    assert_eq!(e, format!("{}:2: missing column `track.genre_top`; FMA's tracks.csv has it (is this the right file?)", p.display()));

    let (_d, p) = broken(|t| t.replacen("\n3,0,", "\n3,0,extra,", 1));
    let e = load_tracks(&p).unwrap_err().to_string();
    // Track 3 starts on line 6: track 2's artist bio spans lines 4 and 5.
    assert_eq!(
        e,
        format!(
            "{}:6: expected 53 fields like the header, found 54",
            p.display()
        )
    );

    let (_d, p) = broken(|t| t.replacen("[12, 25]", "[12, x]", 1));
    let e = load_tracks(&p).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}:4:43: column `track.genres_all`: expected an integer in the list, got `x`",
            p.display()
        )),
        "{e}"
    );

    let (_d, p) = broken(|t| t.replacen(",training,small,", ",training,tiny,", 1));
    let e = load_tracks(&p).unwrap_err().to_string();
    assert!(
        e.starts_with(&format!(
            "{}:4:33: column `set.subset`: expected small, medium or large, got `tiny`",
            p.display()
        )),
        "{e}"
    );

    // An unknown genre id points at a genres.csv from another FMA release.
    let (d, _) = broken(|t| t.replacen("[25]", "[999]", 1));
    let spec = FmaSpec {
        root: d.path().to_path_buf(),
        ..fma_spec(FmaSubset::Small)
    };
    let e = load_dataset(&spec).err().unwrap().to_string();
    assert!(
        e.contains("track 2 has genre id 999, which") && e.contains("genres.csv does not define"),
        "{e}"
    );

    // A subset with no track.
    let (d, _) = broken(|t| t.replace(",small,", ",medium,"));
    let spec = FmaSpec {
        root: d.path().to_path_buf(),
        ..fma_spec(FmaSubset::Small)
    };
    let e = load_dataset(&spec).err().unwrap().to_string();
    assert!(e.ends_with("no track belongs to subset `small` (subsets present: large, medium); choose one of those in dataset.fma.subset"), "{e}");
}

#[test]
fn duplicate_ids_and_damaged_wavs_are_named() {
    // The last row (track 134) is repeated: rows with multi-line fields before it put the copy on line 17.
    let (_d, p) = broken(|t| {
        let row = t
            .lines()
            .find(|l| l.starts_with("134,"))
            .unwrap()
            .to_string();
        t.replacen(&format!("{row}\n"), &format!("{row}\n{row}\n"), 1)
    });
    let e = load_tracks(&p).unwrap_err().to_string();
    assert_eq!(
        e,
        format!(
            "{}:17:1: column `track_id`: track id 134 appears twice",
            p.display()
        )
    );

    let dir = tempfile::tempdir().unwrap();
    let good = agf::data::synth::wav::encode_pcm16(&[0.1; 800], 8000);
    let mut zero_rate = good.clone();
    zero_rate[24..28].copy_from_slice(&0u32.to_le_bytes());
    let cut = &good[..good.len() - 100];
    for (name, bytes, want) in [
        ("rate0.wav", &zero_rate[..], "implausible sample rate 0 Hz"),
        ("cut.wav", cut, "truncated"),
    ] {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        let e = decode_file(&p).unwrap_err().to_string();
        assert!(e.contains(want), "{name}: {e}");
    }
}

#[test]
fn features_csv_has_three_header_rows() {
    let dir = tempfile::tempdir().unwrap();
    let text = "feature,mfcc,mfcc,zcr\nstatistics,mean,std,kurtosis\nnumber,01,01,01\ntrack_id,,,\n2,1.5,-2,0.25\n3,0,1e-3,7\n";
    let p = write(dir.path(), "features.csv", text);
    let (names, rows) = load_features(&p).unwrap();
    assert_eq!(
        names,
        vec!["mfcc.mean.01", "mfcc.std.01", "zcr.kurtosis.01"]
    );
    assert_eq!(rows[&TrackId(2)], vec![1.5, -2.0, 0.25]);
    for bad in ["abc", "nan"] {
        let p = write(dir.path(), "bad.csv", &text.replace("1e-3", bad));
        let e = load_features(&p).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}:6:3: column `mfcc.std.01`: expected a finite number, got `{bad}`",
                p.display()
            )
        );
    }
}

fn run_spec(db: &Path, text: &str, dir: &Path) -> std::process::Output {
    let spec = write(dir, "spec.toml", text);
    common::agf(db, &["run", spec.to_str().unwrap()])
}

#[test]
fn a_run_on_the_fixture_skips_bad_audio_names_it_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"name = "fma-mini"
seed = 1
[dataset]
source = "fma"
[dataset.fma]
root = "{}"
subset = "large"
audio_dir = "fma_small"
[frontend]
sample_rate = 22050
n_fft = 1024
hop_length = 512
n_mels = 40
n_mfcc = 13
[split]
strategy = "official"
[model]
kind = "logreg"
epochs = 30
"#,
        mini().display()
    );
    let db = dir.path().join("agf.sqlite");
    let o = run_spec(&db, &text, dir.path());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{}{}",
        out,
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(
        out.contains("9 tracks, 5 artists, 6 albums, 3 genres; 3 tracks skipped"),
        "{out}"
    );
    let store = open_store(&db);
    let run = store.runs().unwrap()[0].id;
    let skipped = store.skipped(run).unwrap();
    let ids: Vec<u32> = skipped.iter().map(|(t, _)| t.0).collect();
    assert_eq!(ids, vec![5, 10, 26]);
    assert!(skipped[0].1.contains("empty"), "{skipped:?}");
    assert!(skipped[1].1.contains("truncated"), "{skipped:?}");
    assert!(skipped[2].1.contains("missing"), "{skipped:?}");
    assert_eq!(
        store
            .metric(
                run,
                &ModelName::Dataset,
                SplitKey::All,
                "left_out_without_genre_top"
            )
            .unwrap(),
        Some(1.0)
    );
}

#[test]
fn what_agf_synth_writes_loads_and_runs_end_to_end() {
    use agf::data::synth::{fma_layout, SyntheticWorld};
    let dir = tempfile::tempdir().unwrap();
    let synth = agf::spec::SyntheticSpec {
        genres: 4,
        groups: 6,
        artists: 40,
        albums_per_artist: [1, 2],
        tracks_per_album: [3, 5],
        label_noise: 0.0,
        clip_seconds: 2.0,
        sample_rate: 16000,
        ..Default::default()
    };
    let world = SyntheticWorld::generate(&synth, 3);
    fma_layout::write(&world, dir.path(), "medium").unwrap();
    let text = format!(
        r#"name = "synth-as-fma"
seed = 3
[dataset]
source = "fma"
[dataset.fma]
root = "{}"
subset = "medium"
[frontend]
sample_rate = 16000
n_fft = 512
hop_length = 256
n_mels = 40
n_mfcc = 13
[split]
strategy = "official"
[model]
kind = "logreg"
epochs = 150
[[factors]]
name = "fmafeat"
features = "fma_features"
clusters = 8
topics = 4
[[factors]]
name = "tags"
features = "subgenre"
topics = 4
"#,
        dir.path().display()
    );
    // A features.csv in FMA's layout (three header rows, then `track_id`) for every track.
    let mut csv = String::from(
        "feature,mfcc,mfcc,zcr\nstatistics,mean,std,mean\nnumber,01,01,01\ntrack_id,,,\n",
    );
    for (i, t) in world.dataset().tracks.iter().enumerate() {
        csv.push_str(&format!(
            "{},{},{},{}\n",
            t.id,
            t.artist.0 % 5,
            (i % 7) as f32 * 0.5,
            -1.25
        ));
    }
    std::fs::write(dir.path().join("fma_metadata/features.csv"), csv).unwrap();
    let spec = common::spec(&text, "s.toml");
    let (loaded, report, _) = load_dataset(spec.dataset.fma.as_ref().unwrap()).unwrap();
    assert_eq!(loaded.tracks.len(), world.dataset().tracks.len());
    assert_eq!(report.without_genre_top, 0);
    for (a, b) in loaded.tracks.iter().zip(&world.dataset().tracks) {
        assert_eq!(
            (a.id, a.artist, a.album, a.genres.clone(), a.official_split),
            (b.id, b.artist, b.album, b.genres.clone(), b.official_split)
        );
        assert_eq!(
            loaded.genres[a.genre].title,
            world.dataset().genres[b.genre].title
        );
    }
    // The WAV round trip is exact to 16 bits: written as round(x·32767), read as v/32768.
    let loader = agf::audio::load::AudioLoader {
        sample_rate: 16000,
        min_seconds: 0.0,
    };
    let from_disk = loader.track(&loaded, &loaded.tracks[0]).unwrap();
    let generated = world.render(&world.dataset().tracks[0]).unwrap().samples;
    assert_eq!(from_disk.len(), generated.len());
    assert!(from_disk
        .iter()
        .zip(&generated)
        .all(|(a, b)| (a - b).abs() <= 1.5 / 32768.0));

    let db = dir.path().join("agf.sqlite");
    let o = run_spec(&db, &text, dir.path());
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{}{}",
        out,
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("0 tracks skipped"), "{out}");
    let store = open_store(&db);
    let runs = store.runs().unwrap();
    assert!(runs[0].log_loss.unwrap() < (4f64).ln(), "{out}");
    // Both factors ran on the FMA layout: one row per artist in each exported table.
    for name in ["fmafeat", "tags"] {
        let csv = std::fs::read_to_string(
            dir.path()
                .join(runs[0].id.to_string())
                .join("factors")
                .join(name)
                .join("artists.csv"),
        )
        .unwrap();
        assert_eq!(
            csv.lines().count() - 1,
            world.dataset().artist_count(),
            "{name}"
        );
        let words = store
            .metric(
                runs[0].id,
                &ModelName::Factor(name.into()),
                SplitKey::All,
                "vocabulary",
            )
            .unwrap()
            .unwrap();
        assert!(words > 0.0, "{name}");
    }
}
