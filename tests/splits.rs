//! Split strategies on the synthetic world: disjointness, genre balance, and the leakage
//! that a naive split hides (the challenge's round 1 against round 2).

mod common;

use agf::data::split::{Split, SplitName};
use agf::data::synth::SyntheticWorld;
use agf::record::SplitKey;
use agf::spec::{SplitSpec, SplitStrategy, SyntheticSpec};
use std::collections::BTreeSet;

fn split(strategy: SplitStrategy, d: &agf::data::Dataset) -> Split {
    Split::make(
        d,
        &SplitSpec {
            strategy,
            train: Some(0.8),
            validation: Some(0.1),
            test: Some(0.1),
            seed: None,
            min_genre_tracks: 5,
        },
        5,
    )
    .unwrap()
}

#[test]
fn disjoint_strategies_share_nothing_and_keep_genre_shares() {
    // Whole artists can only balance genres when they are small next to a split: 400 artists
    // of about 7 tracks against held-out splits of about 280 tracks.
    let spec = SyntheticSpec {
        artists: 400,
        albums_per_artist: [1, 2],
        tracks_per_album: [3, 6],
        clip_seconds: 0.5,
        sample_rate: 8000,
        ..SyntheticSpec::default()
    };
    let (d, _) = SyntheticWorld::generate(&spec, 11).into_parts();
    let n = d.tracks.len() as f64;
    let whole: Vec<f64> = (0..d.genres.len())
        .map(|g| d.tracks.iter().filter(|t| t.genre == g).count() as f64 / n)
        .collect();
    for strategy in [
        SplitStrategy::Artist,
        SplitStrategy::Album,
        SplitStrategy::Stratified,
        SplitStrategy::Official,
    ] {
        let s = split(strategy, &d);
        let members = |which: SplitName, key: &dyn Fn(usize) -> u32| -> BTreeSet<u32> {
            s.indices(which).into_iter().map(key).collect()
        };
        let artist = |i: usize| d.tracks[i].artist.0;
        let album = |i: usize| d.tracks[i].album.0;
        if matches!(strategy, SplitStrategy::Artist | SplitStrategy::Official) {
            for (a, b) in [
                (SplitName::Train, SplitName::Test),
                (SplitName::Train, SplitName::Validation),
                (SplitName::Validation, SplitName::Test),
            ] {
                assert!(
                    members(a, &artist).is_disjoint(&members(b, &artist)),
                    "{strategy:?}: {a:?} and {b:?} share an artist"
                );
            }
        }
        if strategy != SplitStrategy::Stratified {
            assert!(
                members(SplitName::Train, &album).is_disjoint(&members(SplitName::Test, &album)),
                "{strategy:?} shares an album"
            );
        }
        // Genre shares per split within ±3 points of the whole.
        let counts = s.counts(&d.tracks, d.genres.len());
        for (which, c) in &counts {
            let size: usize = c.iter().sum();
            for (g, &k) in c.iter().enumerate() {
                let share = k as f64 / size as f64;
                assert!(
                    (share - whole[g]).abs() <= 0.03,
                    "{strategy:?} {which:?}: genre {g} share {share:.3} vs {:.3}",
                    whole[g]
                );
            }
        }
    }
    let leak = split(SplitStrategy::Artist, &d).leakage(&d.tracks);
    assert_eq!(
        (
            leak.test_tracks_with_train_artist,
            leak.validation_tracks_with_train_artist
        ),
        (0, 0)
    );
    let leak = split(SplitStrategy::Album, &d).leakage(&d.tracks);
    assert_eq!(leak.test_tracks_with_train_album, 0);
    assert!(
        leak.test_tracks_with_train_artist > 0,
        "album splits let artists leak"
    );
}

/// Train on a random split and on an artist split of the same world: the random split's test
/// set shares artists with training, and scores better for it.
#[test]
fn a_random_split_reports_its_leakage_and_scores_better_than_an_artist_split() {
    let text = |strategy: &str| {
        format!(
            r#"name = "{strategy}"
seed = 21
[dataset]
source = "synthetic"
[dataset.synthetic]
artists = 100
albums_per_artist = [1, 3]
tracks_per_album = [3, 6]
clip_seconds = 2.0
sample_rate = 16000
[frontend]
sample_rate = 16000
n_fft = 512
hop_length = 256
n_mels = 40
n_mfcc = 20
[split]
strategy = "{strategy}"
[model]
kind = "logreg"
"#
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let run = |s: &str| common::run_in(&common::spec(&text(s), "x.toml"), dir.path()).1;
    let random = run("random");
    let artist = run("artist");
    let test = |o: &agf::pipeline::RunOutcome| {
        o.baseline
            .evaluations
            .iter()
            .find(|(s, _)| *s == SplitKey::Test)
            .unwrap()
            .1
            .clone()
    };
    let (r, a) = (test(&random), test(&artist));
    eprintln!(
        "random split: leakage {:?}, test log loss {:.3}, accuracy {:.3}",
        random.leakage, r.log_loss, r.accuracy
    );
    eprintln!(
        "artist split: leakage {:?}, test log loss {:.3}, accuracy {:.3}",
        artist.leakage, a.log_loss, a.accuracy
    );
    assert!(
        random.leakage.test_tracks_with_train_artist * 10 > random.baseline.split_sizes[2] * 9,
        "almost every random-split test track has its artist in training"
    );
    assert_eq!(artist.leakage.test_tracks_with_train_artist, 0);
    assert!(
        r.log_loss < a.log_loss - 0.1,
        "leakage should flatter the random split: {:.3} vs {:.3}",
        r.log_loss,
        a.log_loss
    );
    assert!(
        r.accuracy > a.accuracy,
        "{:.3} vs {:.3}",
        r.accuracy,
        a.accuracy
    );
}
