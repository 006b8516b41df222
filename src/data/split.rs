//! Train/validation/test splits, and the artist and album leakage each one leaves.
//!
//! `artist` follows FMA's method: artists are placed whole, largest first, each into the
//! split that is furthest below its target share for the artist's genres, so the split is
//! artist-disjoint and as genre-stratified as whole artists allow; `album` does the same with
//! albums. `random` cuts a shuffled track list and `stratified` does so per genre: both let
//! artists leak, as a naive split does. `official` takes the dataset's own split.

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
}

impl Split {
    pub fn make(dataset: &Dataset, spec: &SplitSpec, seed: u64) -> Result<Split, SplitError> {
        let ratios = [spec.train, spec.validation, spec.test];
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
                Split {
                    assignment: tracks.iter().filter_map(|t| t.official_split).collect(),
                }
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

/// Place whole groups (artists, albums), largest first, each where its genres are most
/// under-represented relative to their targets.
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
    let mut artists: Vec<(u32, Vec<usize>)> = by_group.into_iter().collect();
    // Shuffle first so that equal-sized groups are taken in a seeded, not id, order.
    rng.shuffle(&mut artists);
    artists.sort_by_key(|(_, idx)| std::cmp::Reverse(idx.len()));

    let mut genre_total = vec![0f64; n_genres];
    for t in tracks {
        genre_total[t.genre] += 1.0;
    }
    let mut placed = [
        vec![0f64; n_genres],
        vec![0f64; n_genres],
        vec![0f64; n_genres],
    ];
    let mut assignment = vec![SplitName::Train; tracks.len()];
    for (_, idx) in artists {
        let mut counts = vec![0f64; n_genres];
        for &i in &idx {
            counts[tracks[i].genre] += 1.0;
        }
        // Put the group where it most reduces the imbalance Σ_g (placed − target)² / target
        // of that split, targets being each split's share of every genre. Largest groups go
        // first, so the many small ones at the end can even out what the big ones left.
        let mut best = 0;
        let mut best_gain = f64::NEG_INFINITY;
        for s in 0..3 {
            let mut gain = 0.0;
            for g in 0..n_genres {
                if counts[g] > 0.0 {
                    let target = (ratios[s] * genre_total[g]).max(1e-9);
                    let before = (placed[s][g] - target).powi(2);
                    let after = (placed[s][g] + counts[g] - target).powi(2);
                    gain += (before - after) / target;
                }
            }
            if gain > best_gain {
                best_gain = gain;
                best = s;
            }
        }
        for &i in &idx {
            assignment[i] = SplitName::ALL[best];
            placed[best][tracks[i].genre] += 1.0;
        }
    }
    Split { assignment }
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
            train: 0.7,
            validation: 0.15,
            test: 0.15,
            seed: None,
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
