//! Artists as bags of words: each track contributes the words of its feature vectors (or its
//! tags), an artist sums its tracks, and the sum is normalised as the spec says.

use super::lda::{Corpus, Doc};
use crate::data::ArtistId;
pub use crate::spec::BagNorm;
use std::collections::BTreeMap;

/// One document per artist, in the order of `artists`.
#[derive(Debug, Clone, PartialEq)]
pub struct ArtistBags {
    pub artists: Vec<ArtistId>,
    pub corpus: Corpus,
    /// Tracks that went into each bag.
    pub tracks: Vec<usize>,
}

/// Build bags from `(artist, words of one track)` pairs over a vocabulary of `vocab` words.
/// Artists are ordered by id; words outside the vocabulary are an error of the caller.
pub fn build<'a>(
    tracks: impl IntoIterator<Item = (ArtistId, &'a [u32])>,
    vocab: usize,
    norm: BagNorm,
) -> ArtistBags {
    let mut by_artist: BTreeMap<ArtistId, (BTreeMap<u32, f64>, usize)> = BTreeMap::new();
    for (artist, words) in tracks {
        let entry = by_artist.entry(artist).or_default();
        entry.1 += 1;
        for &w in words {
            debug_assert!((w as usize) < vocab);
            *entry.0.entry(w).or_default() += 1.0;
        }
    }
    let mut artists = Vec::with_capacity(by_artist.len());
    let mut docs = Vec::with_capacity(by_artist.len());
    let mut counts = Vec::with_capacity(by_artist.len());
    for (artist, (words, n)) in by_artist {
        let scale = |c: f64| match norm {
            BagNorm::PerTrack => c / n as f64,
            BagNorm::Counts => c,
            BagNorm::Presence => 1.0,
        };
        let (ids, values) = words.into_iter().map(|(w, c)| (w, scale(c))).unzip();
        artists.push(artist);
        docs.push(Doc {
            ids,
            counts: values,
        });
        counts.push(n);
    }
    ArtistBags {
        artists,
        corpus: Corpus { vocab, docs },
        tracks: counts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_track_normalisation_by_hand() {
        let a = ArtistId(7);
        let b = ArtistId(3);
        let t1 = [0u32, 0, 2];
        let t2 = [2u32];
        let t3 = [1u32, 1];
        let tracks = vec![(a, &t1[..]), (b, &t3[..]), (a, &t2[..])];
        let bags = build(tracks.clone(), 3, BagNorm::PerTrack);
        // Artists sorted by id: b (one track), then a (two tracks).
        assert_eq!(bags.artists, vec![b, a]);
        assert_eq!(bags.tracks, vec![1, 2]);
        assert_eq!(bags.corpus.docs[0].ids, vec![1]);
        assert_eq!(bags.corpus.docs[0].counts, vec![2.0]);
        assert_eq!(bags.corpus.docs[1].ids, vec![0, 2]);
        assert_eq!(bags.corpus.docs[1].counts, vec![1.0, 1.0]);
        let raw = build(tracks.clone(), 3, BagNorm::Counts);
        assert_eq!(raw.corpus.docs[1].counts, vec![2.0, 2.0]);
        let seen = build(tracks, 3, BagNorm::Presence);
        assert_eq!(seen.corpus.docs[0].counts, vec![1.0]);
    }
}
