//! Injected label noise, applied to training (optionally validation) labels only, with
//! every flip recorded so that a label-noise audit can be scored against it.

use super::split::{Split, SplitName};
use super::{Dataset, TrackId};
use crate::rng::Rng;
use crate::spec::{NoiseKind, NoiseSpec};
use serde::Serialize;
use std::collections::BTreeMap;

/// One injected flip.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelFlip {
    pub track: TrackId,
    /// Position of the track in the dataset.
    pub index: usize,
    pub from: usize,
    pub to: usize,
}

/// Labels the model trains on (dataset order), and the flips that made them.
#[derive(Debug, Clone, PartialEq)]
pub struct NoisyLabels {
    pub labels: Vec<usize>,
    pub flips: Vec<LabelFlip>,
}

#[derive(Debug, thiserror::Error)]
pub enum NoiseError {
    #[error("noise.pairs: `{title}` is not a genre of this dataset (genres: {known})")]
    UnknownGenre { title: String, known: String },
}

fn other_class(from: usize, n: usize, rng: &mut Rng) -> usize {
    let k = rng.index(n - 1);
    if k >= from {
        k + 1
    } else {
        k
    }
}

pub fn inject(
    dataset: &Dataset,
    split: &Split,
    spec: &NoiseSpec,
    seed: u64,
) -> Result<NoisyLabels, NoiseError> {
    let mut labels: Vec<usize> = dataset.tracks.iter().map(|t| t.genre).collect();
    let n_classes = dataset.genres.len();
    let affected = |i: usize| {
        split.assignment[i] == SplitName::Train
            || (spec.include_validation && split.assignment[i] == SplitName::Validation)
    };
    let mut rng = Rng::derive(seed, "noise", 0);
    let mut flips = Vec::new();
    let mut flip = |i: usize, to: usize, labels: &mut Vec<usize>| {
        if labels[i] != to {
            flips.push(LabelFlip {
                track: dataset.tracks[i].id,
                index: i,
                from: labels[i],
                to,
            });
            labels[i] = to;
        }
    };
    if n_classes < 2 {
        return Ok(NoisyLabels {
            labels,
            flips: Vec::new(),
        });
    }
    match spec.kind {
        NoiseKind::None => {}
        NoiseKind::Symmetric => {
            for i in 0..labels.len() {
                // Draw for every track, affected or not, so that the flips of the training
                // set do not depend on which tracks are held out.
                let hit = rng.bernoulli(spec.rate);
                let to = other_class(labels[i], n_classes, &mut rng);
                if hit && affected(i) {
                    flip(i, to, &mut labels);
                }
            }
        }
        NoiseKind::Pairwise => {
            let titles = dataset.genre_titles();
            let find = |t: &str| {
                titles
                    .iter()
                    .position(|x| x == t)
                    .ok_or_else(|| NoiseError::UnknownGenre {
                        title: t.into(),
                        known: titles.join(", "),
                    })
            };
            let pairs: Vec<(usize, usize)> = spec
                .pairs
                .iter()
                .map(|[a, b]| Ok((find(a)?, find(b)?)))
                .collect::<Result<_, NoiseError>>()?;
            let original = labels.clone();
            for (i, from) in original.iter().enumerate() {
                let hit = rng.bernoulli(spec.rate);
                if let Some((_, to)) = pairs.iter().find(|(f, _)| f == from) {
                    if hit && affected(i) {
                        flip(i, *to, &mut labels);
                    }
                }
            }
        }
        NoiseKind::Album => {
            let mut albums: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
            for (i, t) in dataset.tracks.iter().enumerate() {
                albums.entry(t.album.0).or_default().push(i);
            }
            for idx in albums.values() {
                let hit = rng.bernoulli(spec.rate);
                // The album's label is its most common one (FMA's albums carry one label).
                let mut counts = vec![0usize; n_classes];
                idx.iter().for_each(|&i| counts[labels[i]] += 1);
                let main = (0..n_classes)
                    .max_by_key(|&c| (counts[c], std::cmp::Reverse(c)))
                    .unwrap_or(0);
                let to = other_class(main, n_classes, &mut rng);
                if hit {
                    for &i in idx.iter().filter(|&&i| affected(i)) {
                        flip(i, to, &mut labels);
                    }
                }
            }
        }
    }
    Ok(NoisyLabels { labels, flips })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::synth::SyntheticWorld;
    use crate::spec::{SplitSpec, SplitStrategy, SyntheticSpec};

    fn setup() -> (Dataset, Split) {
        let spec = SyntheticSpec {
            artists: 100,
            clip_seconds: 0.5,
            sample_rate: 8000,
            label_noise: 0.0,
            ..SyntheticSpec::default()
        };
        let d = SyntheticWorld::generate(&spec, 4).into_parts().0;
        let split = Split::make(
            &d,
            &SplitSpec {
                strategy: SplitStrategy::Artist,
                train: Some(0.7),
                validation: Some(0.15),
                test: Some(0.15),
                seed: None,
                min_genre_tracks: 5,
            },
            4,
        )
        .unwrap();
        (d, split)
    }

    fn noise(kind: NoiseKind, rate: f64) -> NoiseSpec {
        NoiseSpec {
            kind,
            rate,
            ..NoiseSpec::default()
        }
    }

    #[test]
    fn symmetric_hits_its_rate_on_training_only_and_records_every_flip() {
        let (d, split) = setup();
        let n = inject(&d, &split, &noise(NoiseKind::Symmetric, 0.2), 1).unwrap();
        let train = split.indices(SplitName::Train);
        let rate = n.flips.len() as f64 / train.len() as f64;
        assert!((rate - 0.2).abs() < 0.03, "realised rate {rate}");
        for f in &n.flips {
            assert_eq!(split.assignment[f.index], SplitName::Train);
            assert_eq!(d.tracks[f.index].genre, f.from);
            assert_eq!(n.labels[f.index], f.to);
            assert_ne!(f.from, f.to);
        }
        let changed = (0..d.tracks.len())
            .filter(|&i| n.labels[i] != d.tracks[i].genre)
            .count();
        assert_eq!(changed, n.flips.len());
        assert_eq!(
            inject(&d, &split, &noise(NoiseKind::Symmetric, 0.2), 1).unwrap(),
            n,
            "seeded"
        );
    }

    #[test]
    fn album_noise_relabels_whole_albums() {
        let (d, split) = setup();
        let n = inject(
            &d,
            &split,
            &NoiseSpec {
                include_validation: true,
                ..noise(NoiseKind::Album, 0.3)
            },
            2,
        )
        .unwrap();
        assert!(!n.flips.is_empty());
        for f in &n.flips {
            let album = d.tracks[f.index].album;
            // Every affected track of that album now carries the same label.
            let labels: Vec<usize> = (0..d.tracks.len())
                .filter(|&i| d.tracks[i].album == album && split.assignment[i] != SplitName::Test)
                .map(|i| n.labels[i])
                .collect();
            assert!(
                labels.iter().all(|l| *l == f.to),
                "album {album} split labels {labels:?}"
            );
        }
        assert!(n
            .flips
            .iter()
            .all(|f| split.assignment[f.index] != SplitName::Test));
    }

    #[test]
    fn pairwise_follows_the_pairs_and_names_unknown_genres() {
        let (d, split) = setup();
        let titles = d.genre_titles();
        let spec = NoiseSpec {
            pairs: vec![[titles[0].clone(), titles[1].clone()]],
            ..noise(NoiseKind::Pairwise, 0.5)
        };
        let n = inject(&d, &split, &spec, 3).unwrap();
        assert!(!n.flips.is_empty());
        assert!(n.flips.iter().all(|f| f.from == 0 && f.to == 1));
        let bad = NoiseSpec {
            pairs: vec![["Nope".into(), titles[1].clone()]],
            ..spec
        };
        let err = inject(&d, &split, &bad, 3).unwrap_err().to_string();
        assert!(
            err.starts_with("noise.pairs: `Nope` is not a genre of this dataset (genres: Rock, "),
            "{err}"
        );
    }
}
