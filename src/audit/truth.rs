//! The audit scored against the truth, where it is known (generated worlds): precision and
//! recall of the flagged tracks against the tracks whose label is wrong (uploader errors and
//! injected flips alike), the same per album, and the true noise matrix beside the estimate.

use super::albums::{self, AlbumIssue};
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Retrieval {
    pub flagged: usize,
    pub wrong: usize,
    pub hits: usize,
    /// None when nothing is flagged.
    pub precision: Option<f64>,
    /// None when nothing is wrong.
    pub recall: Option<f64>,
}

impl Retrieval {
    fn of(flagged: &[bool], wrong: &[bool]) -> Self {
        let f = flagged.iter().filter(|&&x| x).count();
        let w = wrong.iter().filter(|&&x| x).count();
        let hits = flagged
            .iter()
            .zip(wrong)
            .filter(|(a, b)| **a && **b)
            .count();
        Retrieval {
            flagged: f,
            wrong: w,
            hits,
            precision: (f > 0).then(|| hits as f64 / f as f64),
            recall: (w > 0).then(|| hits as f64 / w as f64),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Truth {
    pub tracks: Retrieval,
    /// An album is wrong when more than half of its tracks carry a wrong label, flagged when
    /// at least half of its tracks are flagged.
    pub albums: Option<Retrieval>,
    /// P(given = i | true = j), `[given][true]`, counted; a column of a genre no track truly
    /// has is all zero.
    pub noise_matrix: Vec<Vec<f64>>,
}

pub fn score(
    given: &[usize],
    truth: &[usize],
    k: usize,
    issues: &[bool],
    albums: Option<(&[String], &[AlbumIssue])>,
) -> Truth {
    let wrong: Vec<bool> = given.iter().zip(truth).map(|(g, t)| g != t).collect();
    let tracks = Retrieval::of(issues, &wrong);
    let albums = albums.map(|(album_of, ranked)| {
        let mut bad: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
        for (a, w) in album_of.iter().zip(&wrong) {
            let e = bad.entry(a.as_str()).or_default();
            e.0 += 1;
            e.1 += usize::from(*w);
        }
        let flagged: Vec<bool> = ranked.iter().map(albums::is_flagged).collect();
        let wrong: Vec<bool> = ranked
            .iter()
            .map(|a| {
                let (n, w) = bad[a.album.as_str()];
                2 * w > n
            })
            .collect();
        Retrieval::of(&flagged, &wrong)
    });
    let mut counts = vec![vec![0.0; k]; k];
    for (&g, &t) in given.iter().zip(truth) {
        counts[g][t] += 1.0;
    }
    for j in 0..k {
        let col: f64 = counts.iter().map(|r| r[j]).sum();
        if col > 0.0 {
            for r in counts.iter_mut() {
                r[j] /= col;
            }
        }
    }
    Truth {
        tracks,
        albums,
        noise_matrix: counts,
    }
}
