//! A factor's output: every artist's topic vector, what the fit looked like, and the files
//! users read it from (CSV and `.npy`).

use super::kmeans::KMeansFit;
use super::lda::LdaFit;
use crate::audio::npy::encode_f32;
use crate::data::{ArtistId, Dataset};
use serde::{Deserialize, Serialize};

/// What a factor fit looked like (stored with the run).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorSummary {
    pub name: String,
    pub topics: usize,
    /// Distinct words (dictionary size, or tag ids seen).
    pub vocabulary: usize,
    pub fit_tracks: usize,
    pub fit_artists: usize,
    /// Artists with a vector (fitted or inferred).
    pub artists: usize,
    pub kmeans: Option<KMeansFit>,
    pub lda: LdaFit,
    /// Perplexity of the artists left out of the fit, from their own tracks (`None` when
    /// every artist was fitted).
    pub held_out_perplexity: Option<f64>,
    /// Artists whose largest topic is each topic.
    pub topic_artists: Vec<usize>,
    /// Mean weight of each topic over artists.
    pub topic_weight: Vec<f64>,
}

/// Artist → topic vector (rows sum to 1), artists in id order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FactorTable {
    pub summary: FactorSummary,
    pub artists: Vec<ArtistId>,
    /// Whether the artist's bag was part of the LDA fit (else its vector is inferred).
    pub fitted: Vec<bool>,
    pub vectors: Vec<Vec<f32>>,
}

impl FactorTable {
    pub fn artist(&self, a: ArtistId) -> Option<&[f32]> {
        self.artists
            .binary_search(&a)
            .ok()
            .map(|i| self.vectors[i].as_slice())
    }

    /// Each artist's largest topic.
    pub fn argmax(&self) -> Vec<usize> {
        self.vectors
            .iter()
            .map(|v| {
                (0..v.len())
                    .max_by(|&a, &b| v[a].total_cmp(&v[b]).then(b.cmp(&a)))
                    .unwrap_or(0)
            })
            .collect()
    }

    /// The files users read a factor from: `artists.csv`/`.npy` (one row per artist),
    /// `tracks.csv`/`.npy` (one row per track whose artist has a vector, dataset order) and
    /// `summary.json`.
    pub fn files(&self, dataset: &Dataset) -> Vec<(&'static str, Vec<u8>)> {
        let t = self.summary.topics;
        let header: String = (0..t).map(|k| format!(",topic_{k}")).collect();
        let row = |v: &[f32]| -> String { v.iter().map(|x| format!(",{x}")).collect() };
        let mut artists_csv = format!("artist_id,fitted{header}\n");
        let mut artists_flat = Vec::with_capacity(self.artists.len() * t);
        for ((a, f), v) in self.artists.iter().zip(&self.fitted).zip(&self.vectors) {
            artists_csv.push_str(&format!("{a},{}{}\n", u8::from(*f), row(v)));
            artists_flat.extend_from_slice(v);
        }
        let mut tracks_csv = format!("track_id,artist_id{header}\n");
        let mut tracks_flat = Vec::new();
        let mut n_tracks = 0;
        for track in &dataset.tracks {
            if let Some(v) = self.artist(track.artist) {
                tracks_csv.push_str(&format!("{},{}{}\n", track.id, track.artist, row(v)));
                tracks_flat.extend_from_slice(v);
                n_tracks += 1;
            }
        }
        vec![
            ("artists.csv", artists_csv.into_bytes()),
            (
                "artists.npy",
                encode_f32(&artists_flat, &[self.artists.len(), t]),
            ),
            ("tracks.csv", tracks_csv.into_bytes()),
            ("tracks.npy", encode_f32(&tracks_flat, &[n_tracks, t])),
            (
                "summary.json",
                serde_json::to_vec_pretty(&self.summary).expect("summary serialises"),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    /// A cached table is read back through JSON; without correctly rounded parsing some
    /// values came back one ulp off (a resumed run then differed from an uninterrupted one).
    #[test]
    fn floats_survive_the_cache_bit_for_bit() {
        for x in [
            116.31106158483779f64,
            0.1 + 0.2,
            1e-300,
            2.2250738585072014e-308,
        ] {
            let text = serde_json::to_string(&x).unwrap();
            let back: f64 = serde_json::from_str(&text).unwrap();
            assert_eq!(back.to_bits(), x.to_bits(), "{text}");
        }
    }
}
