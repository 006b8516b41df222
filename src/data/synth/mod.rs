//! The synthetic music world: a seeded generator of a genre tree, latent artist groups,
//! artists, albums, labels and audio.
//!
//! It is the embedded default dataset (nothing to download) and the oracle of the test
//! suite. The generative model, every count and rate from `[dataset.synthetic]`:
//!
//! - A genre tree like FMA's: top-level genres, each with a few sub-genres. Each sub-genre
//!   has a *rhythm sound* (tempo, drum pattern, note density, articulation, register),
//!   close to its parent's, so sub-genres of one genre are nearer than different genres.
//! - Latent artist groups, more than genres and crossing them: each is a mixture over
//!   sub-genres (mostly one genre's, partly others') plus a *timbre sound* (harmonic decay,
//!   FM, brightness, mode, polyphony, noise floor, dynamics).
//! - Artists drawn from groups with artist-level variation of both; albums of one main
//!   sub-genre with album coherence; each track's true sub-genre from its album or artist.
//! - Labels as FMA got them: each album labelled once by its uploader with its main
//!   sub-genre, every track inheriting it; uploader errors relabel whole albums, to the most
//!   similar genre more often than to a random one.
//!
//! Genres are thus carried by rhythm and tempo (what a log-mel CNN sees), artist groups by
//! timbre (what MFCC statistics summarise), and labels are noisy per album. The truth
//! ([`GroundTruth`]) is kept apart: the pipeline gets a [`Dataset`]; evaluation and audit code
//! must call [`SyntheticWorld::ground_truth`] or keep the second half of
//! [`SyntheticWorld::into_parts`].

pub mod fma_layout;
pub mod sound;
pub mod wav;

use super::{
    AlbumId, ArtistId, AudioError, AudioSource, Clip, Dataset, Genre, GenreId, GenreNode, Track,
    TrackAudio, TrackId,
};
use crate::rng::Rng;
use crate::spec::SyntheticSpec;
use sound::{RhythmSound, TimbreSound};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// An uploader's error: a whole album published under the wrong genre.
#[derive(Debug, Clone, PartialEq)]
pub struct AlbumCorruption {
    pub album: AlbumId,
    /// The sub-genre the album should have been labelled with.
    pub original: GenreId,
    /// The sub-genre it was published with.
    pub published: GenreId,
    /// Whether the error went to the most similar genre (else a random other genre).
    pub related: bool,
}

/// What the generator knows and the pipeline must not.
#[derive(Debug, Clone)]
pub struct GroundTruth {
    /// True top-level class index per track, in dataset track order.
    pub true_genre: Vec<usize>,
    /// True sub-genre per track.
    pub true_subgenre: Vec<GenreId>,
    /// Latent group of each artist (index into `group_mixtures`).
    pub artist_group: HashMap<ArtistId, usize>,
    /// Each group's mixture over sub-genres (indexed like `subgenres`).
    pub group_mixtures: Vec<Vec<f64>>,
    /// The sub-genre ids, in the order mixtures use.
    pub subgenres: Vec<GenreId>,
    /// Albums the uploader labelled wrongly.
    pub corrupted_albums: Vec<AlbumCorruption>,
    /// Number of albums in the world.
    pub albums: usize,
}

impl GroundTruth {
    /// Latent group of each track's artist, in dataset track order.
    pub fn track_groups(&self, tracks: &[Track]) -> Vec<usize> {
        tracks
            .iter()
            .map(|t| self.artist_group[&t.artist])
            .collect()
    }
}

/// A generated world: the dataset the pipeline reads, and the truth kept apart.
pub struct SyntheticWorld {
    dataset: Dataset,
    truth: GroundTruth,
    sounds: Arc<WorldSounds>,
}

/// Everything needed to render any track's audio, shared by clones of the dataset.
struct WorldSounds {
    seed: u64,
    /// Hash of the generator's parameters and seed, for cache identities.
    identity: String,
    sample_rate: u32,
    samples: usize,
    /// Per track (dataset order): its rhythm (from its true sub-genre) and timbre (from its
    /// artist and album).
    rhythm: Vec<RhythmSound>,
    timbre: Vec<TimbreSound>,
    index: HashMap<TrackId, usize>,
}

/// Metadata of a world, cached by its parameters so that sweeps over later stages do not
/// regenerate it; audio is rendered on demand and is not cached here.
#[derive(Clone)]
struct WorldMeta {
    genres: Vec<Genre>,
    tree: Vec<GenreNode>,
    tracks: Vec<Track>,
    truth: GroundTruth,
    sounds: Arc<WorldSounds>,
}

fn cache() -> &'static Mutex<HashMap<String, WorldMeta>> {
    static CACHE: OnceLock<Mutex<HashMap<String, WorldMeta>>> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

impl SyntheticWorld {
    /// The world for these parameters and seed (generated once per process).
    pub fn generate(spec: &SyntheticSpec, seed: u64) -> Self {
        let key = format!("{seed}:{}", toml::to_string(spec).unwrap_or_default());
        let meta = {
            let mut c = cache().lock().unwrap_or_else(|p| p.into_inner());
            c.entry(key.clone())
                .or_insert_with(|| build(spec, seed, &key))
                .clone()
        };
        let name = format!("synthetic(seed={seed})");
        SyntheticWorld {
            dataset: Dataset {
                name,
                genres: meta.genres,
                genre_tree: meta.tree,
                tracks: meta.tracks,
                audio: Box::new(Renderer(meta.sounds.clone())),
            },
            truth: meta.truth,
            sounds: meta.sounds,
        }
    }

    /// The dataset as the pipeline sees it.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    pub fn sample_rate(&self) -> u32 {
        self.sounds.sample_rate
    }

    pub fn clip_seconds(&self) -> f64 {
        self.sounds.samples as f64 / self.sounds.sample_rate as f64
    }

    /// The truth: only evaluation and audit code should ask for it.
    pub fn ground_truth(&self) -> &GroundTruth {
        &self.truth
    }

    /// A track's clip, at the world's sample rate.
    pub fn render(&self, track: &Track) -> Result<Clip, AudioError> {
        Ok(self.sounds.render(self.sounds.index(track)?, track.id))
    }

    /// Hand the dataset to the pipeline and keep the truth for evaluation.
    pub fn into_parts(self) -> (Dataset, GroundTruth) {
        (self.dataset, self.truth)
    }
}

const TOP_NAMES: [&str; 16] = [
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
/// Share of a group's sub-genre mixture on its home genre; the rest crosses to others.
const HOME_SHARE: f64 = 0.6;
const SUB_NAMES: [&str; 6] = ["Nova", "Deep", "Lo-Fi", "Neo", "Dream", "Hard"];

/// Bumped whenever the renderer's output changes, so cached features of old audio are not reused.
const RENDER_VERSION: u32 = 1;

fn build(spec: &SyntheticSpec, seed: u64, key: &str) -> WorldMeta {
    let mut rng = Rng::derive(seed, "world", 0);

    // Genre tree: ids 1..=G for top-level genres, then sub-genres.
    let top_rhythms = sound::top_genre_rhythms(spec.genres, &mut rng);
    let mut genres = Vec::new();
    let mut tree = Vec::new();
    let mut subgenres: Vec<GenreId> = Vec::new();
    let mut sub_parent: Vec<usize> = Vec::new();
    let mut sub_rhythm: Vec<RhythmSound> = Vec::new();
    for (g, _) in top_rhythms.iter().enumerate() {
        let id = GenreId(g as u32 + 1);
        let title = TOP_NAMES
            .get(g)
            .map(|s| s.to_string())
            .unwrap_or_else(|| format!("Genre {}", g + 1));
        genres.push(Genre {
            id,
            title: title.clone(),
        });
        tree.push(GenreNode {
            id,
            parent: None,
            title,
            top_level: id,
        });
    }
    let mut next_id = spec.genres as u32 + 1;
    for (g, parent_rhythm) in top_rhythms.iter().enumerate() {
        let n = rng.int_inclusive(
            spec.subgenres_per_genre[0] as u64,
            spec.subgenres_per_genre[1] as u64,
        ) as usize;
        for k in 0..n {
            let id = GenreId(next_id);
            next_id += 1;
            let title = format!("{} {}", genres[g].title, SUB_NAMES[k % SUB_NAMES.len()]);
            tree.push(GenreNode {
                id,
                parent: Some(genres[g].id),
                title,
                top_level: genres[g].id,
            });
            subgenres.push(id);
            sub_parent.push(g);
            sub_rhythm.push(sound::subgenre_rhythm(parent_rhythm, &mut rng));
        }
    }
    let n_sub = subgenres.len();

    // Artist groups: a home genre (round-robin, so groups cross genres when there are more
    // groups than genres), HOME_SHARE of the mixture over the home genre's sub-genres, the rest on
    // one or two sub-genres of other genres.
    let group_timbres = sound::group_timbres(spec.groups, &mut rng);
    let mut group_mixtures = Vec::with_capacity(spec.groups);
    for grp in 0..spec.groups {
        let home = grp % spec.genres;
        let mut w = vec![0f64; n_sub];
        let home_subs: Vec<usize> = (0..n_sub).filter(|&s| sub_parent[s] == home).collect();
        for &s in &home_subs {
            w[s] = rng.range(0.3, 1.0);
        }
        let home_total: f64 = home_subs.iter().map(|&s| w[s]).sum();
        home_subs
            .iter()
            .for_each(|&s| w[s] *= HOME_SHARE / home_total);
        let others: Vec<usize> = (0..n_sub).filter(|&s| sub_parent[s] != home).collect();
        if others.is_empty() {
            home_subs.iter().for_each(|&s| w[s] /= HOME_SHARE);
        } else {
            let k = if others.len() > 1 && rng.bernoulli(0.5) {
                2
            } else {
                1
            };
            for _ in 0..k {
                let s = others[rng.index(others.len())];
                w[s] += (1.0 - HOME_SHARE) / k as f64;
            }
        }
        group_mixtures.push(w);
    }

    // Similar genres (for related labelling errors): nearest other genre in rhythm space.
    let nearest_genre: Vec<usize> = (0..spec.genres)
        .map(|g| {
            (0..spec.genres)
                .filter(|&h| h != g)
                .min_by(|&a, &b| {
                    top_rhythms[g]
                        .distance(&top_rhythms[a])
                        .total_cmp(&top_rhythms[g].distance(&top_rhythms[b]))
                })
                .unwrap_or(g)
        })
        .collect();

    let mut tracks = Vec::new();
    let mut rhythm = Vec::new();
    let mut timbre = Vec::new();
    let mut true_genre = Vec::new();
    let mut true_subgenre = Vec::new();
    let mut artist_group = HashMap::new();
    let mut corrupted_albums = Vec::new();
    let (mut next_album, mut next_track) = (1u32, 1u32);
    for a in 0..spec.artists {
        let artist = ArtistId(a as u32 + 1);
        // Every group gets artists before any gets a second, then groups are drawn.
        let grp = if a < spec.groups {
            a
        } else {
            rng.index(spec.groups)
        };
        artist_group.insert(artist, grp);
        let artist_timbre = sound::jitter_timbre(&group_timbres[grp], 0.2, &mut rng);
        let artist_mix: Vec<f64> = group_mixtures[grp]
            .iter()
            .map(|w| w * (0.5 * rng.normal()).exp())
            .collect();
        let n_albums = rng.int_inclusive(
            spec.albums_per_artist[0] as u64,
            spec.albums_per_artist[1] as u64,
        );
        for _ in 0..n_albums {
            let album = AlbumId(next_album);
            next_album += 1;
            let album_timbre = sound::jitter_timbre(&artist_timbre, 0.04, &mut rng);
            let main_sub = rng.categorical(&artist_mix);
            // The uploader labels the album once, with its main sub-genre, or by mistake.
            let mut label_sub = main_sub;
            if rng.bernoulli(spec.label_noise) && spec.genres > 1 {
                let related = rng.bernoulli(spec.related_noise);
                let target_genre = if related {
                    nearest_genre[sub_parent[main_sub]]
                } else {
                    let others: Vec<usize> = (0..spec.genres)
                        .filter(|&g| g != sub_parent[main_sub])
                        .collect();
                    others[rng.index(others.len())]
                };
                let candidates: Vec<usize> = (0..n_sub)
                    .filter(|&s| sub_parent[s] == target_genre)
                    .collect();
                label_sub = candidates[rng.index(candidates.len())];
                corrupted_albums.push(AlbumCorruption {
                    album,
                    original: subgenres[main_sub],
                    published: subgenres[label_sub],
                    related,
                });
            }
            let n_tracks = rng.int_inclusive(
                spec.tracks_per_album[0] as u64,
                spec.tracks_per_album[1] as u64,
            );
            for _ in 0..n_tracks {
                let id = TrackId(next_track);
                next_track += 1;
                let sub = if rng.bernoulli(spec.album_coherence) {
                    main_sub
                } else {
                    rng.categorical(&artist_mix)
                };
                tracks.push(Track {
                    id,
                    artist,
                    album,
                    genre: sub_parent[label_sub],
                    genres: vec![subgenres[label_sub]],
                    title: format!("Track {id}"),
                    official_split: None,
                });
                rhythm.push(sub_rhythm[sub].clone());
                timbre.push(album_timbre.clone());
                true_genre.push(sub_parent[sub]);
                true_subgenre.push(subgenres[sub]);
            }
        }
    }
    let official = super::split::generated_official(&tracks, spec.genres, seed);
    for (t, s) in tracks.iter_mut().zip(official) {
        t.official_split = Some(s);
    }
    let index = tracks.iter().enumerate().map(|(i, t)| (t.id, i)).collect();
    let identity = { crate::digest::sha256_hex(format!("v{RENDER_VERSION}:{key}").as_bytes()) };
    let sounds = WorldSounds {
        seed,
        identity,
        sample_rate: spec.sample_rate,
        samples: (spec.clip_seconds * spec.sample_rate as f64).round() as usize,
        rhythm,
        timbre,
        index,
    };
    WorldMeta {
        genres,
        tree,
        tracks,
        truth: GroundTruth {
            true_genre,
            true_subgenre,
            artist_group,
            group_mixtures,
            subgenres,
            corrupted_albums,
            albums: (next_album - 1) as usize,
        },
        sounds: Arc::new(sounds),
    }
}

/// Renders a track's clip deterministically from (seed, track id).
struct Renderer(Arc<WorldSounds>);

impl WorldSounds {
    fn index(&self, track: &Track) -> Result<usize, AudioError> {
        self.index
            .get(&track.id)
            .copied()
            .ok_or_else(|| AudioError::Unavailable {
                track: track.id,
                reason: "not a track of this synthetic world".into(),
            })
    }

    fn render(&self, i: usize, track: TrackId) -> Clip {
        let mut rng = Rng::derive(self.seed, "audio", track.0 as u64);
        Clip {
            samples: sound::render(
                &self.rhythm[i],
                &self.timbre[i],
                self.sample_rate,
                self.samples,
                &mut rng,
            ),
            sample_rate: self.sample_rate,
        }
    }
}

impl AudioSource for Renderer {
    fn locate(&self, track: &Track) -> Result<TrackAudio, AudioError> {
        let i = self.0.index(track)?;
        let (sounds, id) = (Arc::clone(&self.0), track.id);
        Ok(TrackAudio::Generated {
            identity: format!("synthetic:{}:{}", self.0.identity, track.id),
            render: Box::new(move || sounds.render(i, id)),
        })
    }

    fn describe(&self) -> String {
        format!(
            "synthetic audio, {} Hz, {:.1} s clips",
            self.0.sample_rate,
            self.0.samples as f64 / self.0.sample_rate as f64
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SyntheticSpec {
        SyntheticSpec {
            genres: 4,
            groups: 6,
            artists: 20,
            albums_per_artist: [1, 2],
            tracks_per_album: [2, 3],
            clip_seconds: 1.0,
            sample_rate: 8000,
            ..SyntheticSpec::default()
        }
    }

    #[test]
    fn same_seed_same_world_other_seed_other_world() {
        let a = SyntheticWorld::generate(&small(), 5);
        let b = SyntheticWorld::generate(&small(), 5);
        let c = SyntheticWorld::generate(&small(), 6);
        assert_eq!(a.dataset().tracks, b.dataset().tracks);
        let t = &a.dataset().tracks[3];
        let xa = a.render(t).unwrap().samples;
        assert_eq!(xa, b.render(t).unwrap().samples);
        assert_ne!(xa, c.render(&c.dataset().tracks[3]).unwrap().samples);
        assert_eq!(xa.len(), 8000);
        assert!(xa.iter().all(|x| x.is_finite() && x.abs() <= 1.0));
    }

    #[test]
    fn tree_groups_and_truth_are_consistent() {
        let w = SyntheticWorld::generate(&small(), 1);
        let d = w.dataset();
        let t = w.ground_truth();
        assert_eq!(d.genres.len(), 4);
        let subs = d.genre_tree.iter().filter(|n| n.parent.is_some()).count();
        assert!((8..=16).contains(&subs), "{subs} sub-genres");
        assert_eq!(t.true_genre.len(), d.tracks.len());
        // Every group has an artist; the published sub-genre's parent is the class.
        let mut groups: Vec<usize> = t.artist_group.values().copied().collect();
        groups.sort();
        groups.dedup();
        assert_eq!(groups.len(), 6);
        for tr in &d.tracks {
            let node = d.genre_tree.iter().find(|n| n.id == tr.genres[0]).unwrap();
            assert_eq!(node.top_level, d.genres[tr.genre].id);
        }
        for m in &t.group_mixtures {
            assert!((m.iter().sum::<f64>() - 1.0).abs() < 1e-9);
        }
    }

    #[test]
    fn foreign_track_is_an_error_not_a_panic() {
        let w = SyntheticWorld::generate(&small(), 1);
        let mut t = w.dataset().tracks[0].clone();
        t.id = TrackId(99_999);
        assert!(w.render(&t).is_err());
    }
}
