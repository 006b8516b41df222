//! Train/validation/test splits, and the artist and album leakage each one leaves.
//!
//! `artist` follows FMA's method: artists are placed whole, so the split is artist-disjoint,
//! and as genre-stratified as whole artists allow (as scikit-learn's `StratifiedGroupKFold`
//! aims to be): first every genre carried by at least two artists gets one in the test split
//! and, with three, one in validation (its smallest artists, so the shares suffer least);
//! then the rest, largest first, each go where their genres are furthest below their target
//! shares. `album` does the same with albums. `random` cuts a shuffled track list and
//! `stratified` does so per genre: both let artists leak, as a naive split does. `official`
//! takes the dataset's own split.

use super::{Dataset, Track};
use crate::rng::Rng;
use crate::spec::{SplitSpec, SplitStrategy};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SplitName {
    Train,
    Validation,
    Test,
}

impl SplitName {
    pub const ALL: [SplitName; 3] = [SplitName::Train, SplitName::Validation, SplitName::Test];

    pub fn as_str(self) -> &'static str {
        crate::record::SplitKey::from(self).as_str()
    }
}

impl From<SplitName> for crate::record::SplitKey {
    fn from(s: SplitName) -> Self {
        match s {
            SplitName::Train => crate::record::SplitKey::Train,
            SplitName::Validation => crate::record::SplitKey::Validation,
            SplitName::Test => crate::record::SplitKey::Test,
        }
    }
}

/// Which split each track (in dataset order) belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub assignment: Vec<SplitName>,
}

/// How much a split leaks: held-out tracks whose artist or album is also in training.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Leakage {
    pub test_tracks_with_train_artist: usize,
    pub test_tracks_with_train_album: usize,
    pub validation_tracks_with_train_artist: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SplitError {
    #[error("split.strategy = \"official\" but {missing} of {total} tracks have no official split (first: track {first}); choose another strategy")]
    NoOfficialSplit {
        missing: usize,
        total: usize,
        first: super::TrackId,
    },
    #[error(
        "split.strategy = \"official\": the dataset's own split (FMA's set.split) puts none of \
         its {total} tracks in {empty} (train {train}, validation {validation}, test {test}); \
         choose a strategy that splits the tracks itself, e.g. strategy = \"artist\""
    )]
    OfficialEmpty {
        empty: SplitName,
        total: usize,
        train: usize,
        validation: usize,
        test: usize,
    },
}

impl std::fmt::Display for SplitName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Split {
    pub fn make(dataset: &Dataset, spec: &SplitSpec, seed: u64) -> Result<Split, SplitError> {
        let ratios = spec.ratios();
        let mut rng = Rng::derive(seed, "split", 0);
        let tracks = &dataset.tracks;
        let n_genres = dataset.genres.len();
        Ok(match spec.strategy {
            SplitStrategy::Official => {
                let missing: Vec<&Track> = tracks
                    .iter()
                    .filter(|t| t.official_split.is_none())
                    .collect();
                if let Some(first) = missing.first() {
                    return Err(SplitError::NoOfficialSplit {
                        missing: missing.len(),
                        total: tracks.len(),
                        first: first.id,
                    });
                }
                let split = Split {
                    assignment: tracks.iter().filter_map(|t| t.official_split).collect(),
                };
                let sizes = SplitName::ALL.map(|s| split.indices(s).len());
                if let Some(i) = sizes.iter().position(|&n| n == 0) {
                    return Err(SplitError::OfficialEmpty {
                        empty: SplitName::ALL[i],
                        total: tracks.len(),
                        train: sizes[0],
                        validation: sizes[1],
                        test: sizes[2],
                    });
                }
                split
            }
            SplitStrategy::Random => random_split(tracks, ratios, &mut rng),
            SplitStrategy::Stratified => stratified_split(tracks, n_genres, ratios, &mut rng),
            SplitStrategy::Artist => {
                group_split(tracks, n_genres, ratios, &mut rng, |t| t.artist.0)
            }
            SplitStrategy::Album => group_split(tracks, n_genres, ratios, &mut rng, |t| t.album.0),
        })
    }

    pub fn indices(&self, which: SplitName) -> Vec<usize> {
        (0..self.assignment.len())
            .filter(|&i| self.assignment[i] == which)
            .collect()
    }

    pub fn leakage(&self, tracks: &[Track]) -> Leakage {
        let train = self.indices(SplitName::Train);
        let train_artists: BTreeSet<_> = train.iter().map(|&i| tracks[i].artist).collect();
        let train_albums: BTreeSet<_> = train.iter().map(|&i| tracks[i].album).collect();
        let count = |which, f: &dyn Fn(&Track) -> bool| {
            self.indices(which)
                .into_iter()
                .filter(|&i| f(&tracks[i]))
                .count()
        };
        Leakage {
            test_tracks_with_train_artist: count(SplitName::Test, &|t| {
                train_artists.contains(&t.artist)
            }),
            test_tracks_with_train_album: count(SplitName::Test, &|t| {
                train_albums.contains(&t.album)
            }),
            validation_tracks_with_train_artist: count(SplitName::Validation, &|t| {
                train_artists.contains(&t.artist)
            }),
        }
    }

    /// SHA-256 over (track id, split) pairs: equal hashes mean equal splits.
    pub fn hash(&self, tracks: &[Track]) -> String {
        let mut h = Sha256::new();
        for (t, s) in tracks.iter().zip(&self.assignment) {
            h.update(t.id.0.to_le_bytes());
            h.update([*s as u8]);
        }
        crate::digest::hex(&h.finalize())
    }

    /// Track counts per split and genre class.
    pub fn counts(&self, tracks: &[Track], n_genres: usize) -> BTreeMap<SplitName, Vec<usize>> {
        let mut out: BTreeMap<SplitName, Vec<usize>> = SplitName::ALL
            .iter()
            .map(|s| (*s, vec![0; n_genres]))
            .collect();
        for (t, s) in tracks.iter().zip(&self.assignment) {
            out.get_mut(s).expect("every split is present")[t.genre] += 1;
        }
        out
    }
}

/// Shuffle `members` and cut them by `ratios` into train, validation and test.
fn shuffle_and_cut(
    mut members: Vec<usize>,
    ratios: [f64; 3],
    rng: &mut Rng,
    assignment: &mut [SplitName],
) {
    rng.shuffle(&mut members);
    let n = members.len() as f64;
    let n_train = (ratios[0] * n).round() as usize;
    let n_val = (ratios[1] * n).round() as usize;
    for (rank, &i) in members.iter().enumerate() {
        assignment[i] = if rank < n_train {
            SplitName::Train
        } else if rank < n_train + n_val {
            SplitName::Validation
        } else {
            SplitName::Test
        };
    }
}

fn random_split(tracks: &[Track], ratios: [f64; 3], rng: &mut Rng) -> Split {
    let mut assignment = vec![SplitName::Test; tracks.len()];
    shuffle_and_cut((0..tracks.len()).collect(), ratios, rng, &mut assignment);
    Split { assignment }
}

/// The split a generated world ships as its official one: artist-disjoint 80/10/10, as
/// FMA's own.
pub fn generated_official(tracks: &[Track], n_genres: usize, seed: u64) -> Vec<SplitName> {
    let mut rng = Rng::derive(seed, "official-split", 0);
    group_split(tracks, n_genres, [0.8, 0.1, 0.1], &mut rng, |t| t.artist.0).assignment
}

fn stratified_split(tracks: &[Track], n_genres: usize, ratios: [f64; 3], rng: &mut Rng) -> Split {
    let mut assignment = vec![SplitName::Test; tracks.len()];
    for g in 0..n_genres {
        let members = (0..tracks.len())
            .filter(|&i| tracks[i].genre == g)
            .collect();
        shuffle_and_cut(members, ratios, rng, &mut assignment);
    }
    Split { assignment }
}

/// Place whole groups (artists, albums): first, for every genre carried by at least two
/// groups, its smallest groups in the held-out splits that lack it (test first, then
/// validation), leaving at least one for training; then the other groups, largest first,
/// each where its genres are furthest below their targets.
fn group_split(
    tracks: &[Track],
    n_genres: usize,
    ratios: [f64; 3],
    rng: &mut Rng,
    key: impl Fn(&Track) -> u32,
) -> Split {
    let mut by_group: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, t) in tracks.iter().enumerate() {
        by_group.entry(key(t)).or_default().push(i);
    }
    let mut groups: Vec<Vec<usize>> = by_group.into_values().collect();
    // Shuffle first so that equal-sized groups are taken in a seeded, not id, order.
    rng.shuffle(&mut groups);
    groups.sort_by_key(|idx| std::cmp::Reverse(idx.len()));
    let counts: Vec<Vec<f64>> = groups
        .iter()
        .map(|idx| {
            let mut c = vec![0f64; n_genres];
            for &i in idx {
                c[tracks[i].genre] += 1.0;
            }
            c
        })
        .collect();
    let mut genre_total = vec![0f64; n_genres];
    for t in tracks {
        genre_total[t.genre] += 1.0;
    }
    let mut placed = [
        vec![0f64; n_genres],
        vec![0f64; n_genres],
        vec![0f64; n_genres],
    ];
    let mut split_of: Vec<Option<usize>> = vec![None; groups.len()];
    let put = |g: usize, s: usize, split_of: &mut [Option<usize>], placed: &mut [Vec<f64>]| {
        split_of[g] = Some(s);
        for (p, c) in placed[s].iter_mut().zip(&counts[g]) {
            *p += c;
        }
    };

    // Coverage: rarest genres first, so that their few groups are not taken by another
    // genre's coverage before their own.
    let carriers = |genre: usize| -> Vec<usize> {
        (0..groups.len())
            .filter(|&g| counts[g][genre] > 0.0)
            .collect()
    };
    let mut genres: Vec<usize> = (0..n_genres).collect();
    genres.sort_by_key(|&genre| carriers(genre).len());
    for genre in genres {
        let mut free: Vec<usize> = carriers(genre)
            .into_iter()
            .filter(|&g| split_of[g].is_none())
            .collect();
        // Smallest share of the genre first (ties: the seeded order).
        free.sort_by(|&a, &b| counts[a][genre].total_cmp(&counts[b][genre]));
        let mut free = free.into_iter();
        for s in [2, 1] {
            let covered = split_of
                .iter()
                .enumerate()
                .any(|(g, sp)| *sp == Some(s) && counts[g][genre] > 0.0);
            let in_train = split_of
                .iter()
                .enumerate()
                .any(|(g, sp)| *sp == Some(0) && counts[g][genre] > 0.0);
            // Keep one group back for training unless training already has the genre.
            let spare = free.len() > usize::from(!in_train);
            if !covered && spare {
                if let Some(g) = free.next() {
                    put(g, s, &mut split_of, &mut placed);
                }
            }
        }
    }

    // Balance: each remaining group where it most reduces the imbalance
    // Σ_g (placed − target)² / target, targets being each split's share of every genre.
    // Largest groups go first, so the many small ones at the end can even out what the big
    // ones left.
    for g in 0..groups.len() {
        if split_of[g].is_some() {
            continue;
        }
        let mut best = 0;
        let mut best_gain = f64::NEG_INFINITY;
        for s in 0..3 {
            let mut gain = 0.0;
            for genre in 0..n_genres {
                let c = counts[g][genre];
                if c > 0.0 {
                    let target = (ratios[s] * genre_total[genre]).max(1e-9);
                    let before = (placed[s][genre] - target).powi(2);
                    let after = (placed[s][genre] + c - target).powi(2);
                    gain += (before - after) / target;
                }
            }
            if gain > best_gain {
                best_gain = gain;
                best = s;
            }
        }
        put(g, best, &mut split_of, &mut placed);
    }
    let mut assignment = vec![SplitName::Train; tracks.len()];
    for (idx, s) in groups.iter().zip(&split_of) {
        for &i in idx {
            assignment[i] = SplitName::ALL[s.expect("every group is placed")];
        }
    }
    Split { assignment }
}

impl Split {
    /// What a reader should know about how the genres fell: every split holding fewer than
    /// `min_tracks` tracks of a genre, and why when whole groups could not do better.
    pub fn genre_warnings(&self, d: &Dataset, min_tracks: usize) -> Vec<String> {
        let counts = self.counts(&d.tracks, d.genres.len());
        let mut out = Vec::new();
        for (g, genre) in d.genres.iter().enumerate() {
            let artists: BTreeSet<_> = d
                .tracks
                .iter()
                .filter(|t| t.genre == g)
                .map(|t| t.artist)
                .collect();
            for s in SplitName::ALL {
                let n = counts[&s][g];
                if n >= min_tracks {
                    continue;
                }
                let why = match artists.len() {
                    1 => " (one artist carries the genre, and artists are not split)".to_string(),
                    k if k < 3 => format!(
                        " ({k} artists carry the genre; whole artists cannot cover three splits)"
                    ),
                    _ => String::new(),
                };
                out.push(if n == 0 {
                    format!("{s} has no {} track{why}", genre.title)
                } else {
                    format!(
                        "{s} has {n} {} track{}, fewer than split.min_genre_tracks = \
                         {min_tracks}{why}",
                        genre.title,
                        if n == 1 { "" } else { "s" }
                    )
                });
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::SyntheticWorld;
    use crate::spec::SyntheticSpec;

    fn world() -> Dataset {
        let spec = SyntheticSpec {
            genres: 5,
            artists: 80,
            albums_per_artist: [1, 3],
            tracks_per_album: [2, 6],
            clip_seconds: 1.0,
            sample_rate: 8000,
            ..SyntheticSpec::default()
        };
        SyntheticWorld::generate(&spec, 9).into_parts().0
    }

    fn spec(strategy: SplitStrategy) -> SplitSpec {
        SplitSpec {
            strategy,
            train: Some(0.7),
            validation: Some(0.15),
            test: Some(0.15),
            seed: None,
            min_genre_tracks: 5,
        }
    }

    #[test]
    fn artist_split_shares_no_artist_and_keeps_genre_shares() {
        let d = world();
        let split = Split::make(&d, &spec(SplitStrategy::Artist), 1).unwrap();
        let leak = split.leakage(&d.tracks);
        assert_eq!(leak.test_tracks_with_train_artist, 0);
        assert_eq!(leak.validation_tracks_with_train_artist, 0);
        let counts = split.counts(&d.tracks, 5);
        let n = d.tracks.len() as f64;
        for (s, ratio) in [
            (SplitName::Train, 0.7),
            (SplitName::Validation, 0.15),
            (SplitName::Test, 0.15),
        ] {
            let size: usize = counts[&s].iter().sum();
            assert!(
                (size as f64 / n - ratio).abs() < 0.05,
                "{s:?} holds {size} of {n}"
            );
            assert!(
                counts[&s].iter().all(|&c| c > 0),
                "{s:?} lacks a genre: {:?}",
                counts[&s]
            );
        }
    }

    /// Tracks of `artists_per_genre[g]` artists per genre, `tracks` each.
    fn small_genres(artists_per_genre: &[usize], tracks: usize) -> Dataset {
        struct Silent;
        impl crate::data::AudioSource for Silent {
            fn locate(
                &self,
                t: &Track,
            ) -> Result<crate::data::TrackAudio, crate::data::AudioError> {
                Err(crate::data::AudioError::Unavailable {
                    track: t.id,
                    reason: "no audio".into(),
                })
            }
            fn describe(&self) -> String {
                "none".into()
            }
        }
        let mut out = Vec::new();
        let mut artist = 0;
        for (g, &n) in artists_per_genre.iter().enumerate() {
            for _ in 0..n {
                artist += 1;
                for k in 0..tracks {
                    out.push(Track {
                        id: crate::data::TrackId(out.len() as u32 + 1),
                        artist: crate::data::ArtistId(artist),
                        album: crate::data::AlbumId(artist * 10 + (k % 2) as u32),
                        genre: g,
                        genres: vec![],
                        title: String::new(),
                        official_split: None,
                    });
                }
            }
        }
        Dataset {
            name: "small genres".into(),
            genres: (0..artists_per_genre.len())
                .map(|g| crate::data::Genre {
                    id: crate::data::GenreId(g as u32 + 1),
                    title: format!("G{g}"),
                })
                .collect(),
            genre_tree: vec![],
            tracks: out,
            audio: Box::new(Silent),
        }
    }

    #[test]
    fn a_genre_of_few_artists_reaches_the_held_out_splits_and_what_cannot_is_warned() {
        // G0: two artists; G1: three; G2: thirty. Before, whole-artist placement put G0 and
        // G1 wholly in training on every seed.
        let d = small_genres(&[2, 3, 30], 5);
        for seed in 1..=5 {
            for strategy in [SplitStrategy::Artist, SplitStrategy::Album] {
                let split = Split::make(&d, &spec(strategy), seed).unwrap();
                let c = split.counts(&d.tracks, 3);
                let has = |s: SplitName, g: usize| c[&s][g] > 0;
                assert!(has(SplitName::Train, 0) && has(SplitName::Test, 0), "{c:?}");
                if strategy == SplitStrategy::Artist {
                    assert!(
                        !has(SplitName::Validation, 0),
                        "two artists cover two splits"
                    );
                }
                for s in SplitName::ALL {
                    assert!(has(s, 1) && has(s, 2), "seed {seed} {strategy:?}: {c:?}");
                }
                let leak = split.leakage(&d.tracks);
                if strategy == SplitStrategy::Artist {
                    assert_eq!(leak.test_tracks_with_train_artist, 0);
                }
            }
        }
        let split = Split::make(&d, &spec(SplitStrategy::Artist), 1).unwrap();
        let warnings = split.genre_warnings(&d, 5);
        assert!(
            warnings.contains(
                &"validation has no G0 track (2 artists carry the genre; whole artists cannot \
                  cover three splits)"
                    .to_string()
            ),
            "{warnings:?}"
        );
        assert!(warnings.iter().all(|w| !w.contains("G2")), "{warnings:?}");
    }

    #[test]
    fn random_split_leaks_and_is_seeded() {
        let d = world();
        let a = Split::make(&d, &spec(SplitStrategy::Random), 1).unwrap();
        let b = Split::make(&d, &spec(SplitStrategy::Random), 1).unwrap();
        let c = Split::make(&d, &spec(SplitStrategy::Random), 2).unwrap();
        assert_eq!(a.hash(&d.tracks), b.hash(&d.tracks));
        assert_ne!(a.hash(&d.tracks), c.hash(&d.tracks));
        let leak = a.leakage(&d.tracks);
        let n_test = a.indices(SplitName::Test).len();
        // With ~5 tracks per artist, most test tracks have an artist-mate in training.
        assert!(
            leak.test_tracks_with_train_artist * 2 > n_test,
            "{leak:?} of {n_test}"
        );
    }
}
