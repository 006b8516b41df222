//! The album view: uploaders set genres per album, so a wrong label is usually a whole album.
//! Per album, how many of its tracks are flagged, how confident the model is in the given
//! label, and which genre the model believes the album is.

use super::confident::Examples;
use serde::Serialize;
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AlbumIssue {
    pub album: String,
    pub tracks: usize,
    pub flagged: usize,
    pub share_flagged: f64,
    /// Mean probability of each track's given label.
    pub mean_self_confidence: f64,
    /// The label most of its tracks carry (the lowest class on a tie).
    pub label: usize,
    /// The argmax of the album's mean probabilities.
    pub believed: usize,
    /// That class's mean probability.
    pub believed_probability: f64,
}

/// Every album, the likeliest mislabelled first: by share of tracks flagged, then by lower
/// mean self-confidence, then by name.
pub fn albums(album_of: &[String], ex: &Examples, issues: &[bool]) -> Vec<AlbumIssue> {
    let k = ex.classes();
    let mut groups: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, a) in album_of.iter().enumerate() {
        groups.entry(a.as_str()).or_default().push(i);
    }
    let mut out: Vec<AlbumIssue> = groups
        .into_iter()
        .map(|(album, members)| {
            let n = members.len() as f64;
            let mut votes = vec![0usize; k];
            let mut mean = vec![0.0; k];
            let mut own = 0.0;
            for &i in &members {
                let l = ex.labels()[i];
                votes[l] += 1;
                own += ex.row(i)[l];
                for (m, p) in mean.iter_mut().zip(ex.row(i)) {
                    *m += p / n;
                }
            }
            let label = (0..k)
                .max_by_key(|&c| (votes[c], std::cmp::Reverse(c)))
                .unwrap_or(0);
            let believed = super::confident::argmax(&mean);
            let flagged = members.iter().filter(|&&i| issues[i]).count();
            AlbumIssue {
                album: album.to_string(),
                tracks: members.len(),
                flagged,
                share_flagged: flagged as f64 / n,
                mean_self_confidence: own / n,
                label,
                believed,
                believed_probability: mean[believed],
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.share_flagged
            .total_cmp(&a.share_flagged)
            .then(a.mean_self_confidence.total_cmp(&b.mean_self_confidence))
            .then(a.album.cmp(&b.album))
    });
    out
}

/// An album counts as flagged when at least half of its tracks are.
pub fn is_flagged(a: &AlbumIssue) -> bool {
    2 * a.flagged >= a.tracks && a.flagged > 0
}
