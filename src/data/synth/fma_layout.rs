//! `agf synth`: write a synthetic world in FMA's exact on-disk layout, so that the FMA
//! loader, pandas and a researcher's own scripts read it as they read FMA.
//!
//! - `fma_metadata/tracks.csv`: two header rows (top level, column name) and a `track_id`
//!   line, then the 52 columns of FMA's file in FMA's order; empty where the world has
//!   nothing. Text is quoted as RFC 4180 requires (some titles carry commas and quotes, some
//!   artist bios newlines, as on FMA).
//! - `fma_metadata/genres.csv`: `genre_id,#tracks,parent,title,top_level`.
//! - `fma_metadata/ground_truth.csv`: what the generator knows; nothing in FMA's files.
//! - `fma_<subset>/NNN/NNNNNN.wav`: 16-bit mono WAV.
//!
//! Every file is written to a temporary name and renamed into place.

use super::wav::encode_pcm16;
use super::SyntheticWorld;
use crate::data::split::SplitName;
use crate::data::{Dataset, GenreId};
use crate::fsutil::write_atomic;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// FMA's `tracks.csv` columns, in the file's order.
#[rustfmt::skip]
pub const TRACKS_COLUMNS: [(&str, &str); 52] = [
    ("album", "comments"), ("album", "date_created"), ("album", "date_released"),
    ("album", "engineer"), ("album", "favorites"), ("album", "id"), ("album", "information"),
    ("album", "listens"), ("album", "producer"), ("album", "tags"), ("album", "title"),
    ("album", "tracks"), ("album", "type"),
    ("artist", "active_year_begin"), ("artist", "active_year_end"),
    ("artist", "associated_labels"), ("artist", "bio"), ("artist", "comments"),
    ("artist", "date_created"), ("artist", "favorites"), ("artist", "id"),
    ("artist", "latitude"), ("artist", "location"), ("artist", "longitude"),
    ("artist", "members"), ("artist", "name"), ("artist", "related_projects"),
    ("artist", "tags"), ("artist", "website"), ("artist", "wikipedia_page"),
    ("set", "split"), ("set", "subset"),
    ("track", "bit_rate"), ("track", "comments"), ("track", "composer"),
    ("track", "date_created"), ("track", "date_recorded"), ("track", "duration"),
    ("track", "favorites"), ("track", "genre_top"), ("track", "genres"),
    ("track", "genres_all"), ("track", "information"), ("track", "interest"),
    ("track", "language_code"), ("track", "license"), ("track", "listens"),
    ("track", "lyricist"), ("track", "number"), ("track", "publisher"), ("track", "tags"),
    ("track", "title"),
];

#[derive(Debug, thiserror::Error)]
pub enum SynthWriteError {
    #[error("cannot write {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot encode {}", path.display())]
    Csv {
        path: PathBuf,
        #[source]
        source: csv::Error,
    },
    #[error("cannot render track {track}: {reason}")]
    Audio { track: u32, reason: String },
}

#[derive(Debug, Clone)]
pub struct WriteSummary {
    pub root: PathBuf,
    pub tracks: usize,
    pub audio_seconds: f64,
    pub wall_seconds: f64,
}

/// The audio path of a track under FMA's layout: `fma_<subset>/NNN/NNNNNN.<ext>`.
pub fn audio_path(root: &Path, subset: &str, track: u32, ext: &str) -> PathBuf {
    let id = format!("{track:06}");
    root.join(format!("fma_{subset}"))
        .join(&id[..3])
        .join(format!("{id}.{ext}"))
}

fn id_list(ids: &[GenreId]) -> String {
    let inner: Vec<String> = ids.iter().map(|g| g.0.to_string()).collect();
    format!("[{}]", inner.join(", "))
}

fn album_title(n: u32) -> String {
    if n % 7 == 3 {
        format!("Album {n}, \"Live\"")
    } else {
        format!("Album {n}")
    }
}

fn artist_name(n: u32) -> String {
    if n % 5 == 2 {
        format!("The {n}s, Band")
    } else {
        format!("Artist {n}")
    }
}

fn artist_bio(n: u32) -> String {
    if n % 4 == 1 {
        format!("<p>Artist {n} started out in a garage.\nNow plays \"everywhere\", mostly.</p>")
    } else {
        String::new()
    }
}

fn date(offset_minutes: u32) -> String {
    let base = chrono::NaiveDate::from_ymd_opt(2008, 11, 26)
        .and_then(|d| d.and_hms_opt(1, 0, 0))
        .expect("a valid fixed date");
    (base + chrono::Duration::minutes(offset_minutes as i64))
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// Write the world. `subset` names the audio folder and fills `set.subset`; `set.split` is
/// the world's official split (artist-disjoint 80/10/10, as FMA's).
pub fn write(
    world: &SyntheticWorld,
    out: &Path,
    subset: &str,
) -> Result<WriteSummary, SynthWriteError> {
    let started = Instant::now();
    let d = world.dataset();
    write_metadata(world, out, subset)?;
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SynthWriteError::Io { path, source }
    };

    let pb = crate::progress::bar(d.tracks.len() as u64, "audio");
    let seconds: Result<Vec<f64>, SynthWriteError> = d
        .tracks
        .par_iter()
        .map(|t| {
            let clip = world.render(t).map_err(|e| SynthWriteError::Audio {
                track: t.id.0,
                reason: e.to_string(),
            })?;
            let path =
                crate::data::fma::audio_path(&out.join(format!("fma_{subset}")), t.id, "wav");
            write_atomic(&path, &encode_pcm16(&clip.samples, clip.sample_rate))
                .map_err(io(&path))?;
            pb.inc(1);
            Ok(clip.samples.len() as f64 / clip.sample_rate as f64)
        })
        .collect();
    pb.finish_and_clear();
    Ok(WriteSummary {
        root: out.to_path_buf(),
        tracks: d.tracks.len(),
        audio_seconds: seconds?.iter().sum(),
        wall_seconds: started.elapsed().as_secs_f64(),
    })
}

/// Write only `fma_metadata/` (tracks, genres, ground truth); returns the tracks.csv path.
pub fn write_metadata(
    world: &SyntheticWorld,
    out: &Path,
    subset: &str,
) -> Result<PathBuf, SynthWriteError> {
    let d = world.dataset();
    let meta = out.join("fma_metadata");
    let csv_bytes = |path: &Path, rows: Vec<Vec<String>>| -> Result<Vec<u8>, SynthWriteError> {
        let mut w = csv::WriterBuilder::new()
            .flexible(false)
            .from_writer(Vec::new());
        for r in rows {
            w.write_record(&r).map_err(|source| SynthWriteError::Csv {
                path: path.to_path_buf(),
                source,
            })?;
        }
        w.into_inner().map_err(|e| SynthWriteError::Io {
            path: path.to_path_buf(),
            source: e.into_error(),
        })
    };
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| SynthWriteError::Io { path, source }
    };
    let tracks_path = meta.join("tracks.csv");
    write_atomic(
        &tracks_path,
        &csv_bytes(&tracks_path, tracks_rows(d, subset, world))?,
    )
    .map_err(io(&tracks_path))?;
    let genres_path = meta.join("genres.csv");
    write_atomic(&genres_path, &csv_bytes(&genres_path, genres_rows(d))?)
        .map_err(io(&genres_path))?;
    let truth_path = meta.join("ground_truth.csv");
    write_atomic(&truth_path, &csv_bytes(&truth_path, truth_rows(world))?)
        .map_err(io(&truth_path))?;
    Ok(tracks_path)
}

fn tracks_rows(d: &Dataset, subset: &str, world: &SyntheticWorld) -> Vec<Vec<String>> {
    let mut rows = Vec::with_capacity(d.tracks.len() + 3);
    let mut top = vec![String::new()];
    let mut names = vec![String::new()];
    for (t, n) in TRACKS_COLUMNS {
        top.push(t.into());
        names.push(n.into());
    }
    rows.push(top);
    rows.push(names);
    let mut id_row = vec!["track_id".to_string()];
    id_row.extend(std::iter::repeat_n(String::new(), TRACKS_COLUMNS.len()));
    rows.push(id_row);

    let mut album_sizes: HashMap<u32, usize> = HashMap::new();
    for t in &d.tracks {
        *album_sizes.entry(t.album.0).or_default() += 1;
    }
    let parent: HashMap<GenreId, Option<GenreId>> =
        d.genre_tree.iter().map(|n| (n.id, n.parent)).collect();
    let seconds = world.clip_seconds();
    let sample_rate = world.sample_rate();
    let mut number_in_album: HashMap<u32, usize> = HashMap::new();
    for t in &d.tracks {
        let n = number_in_album.entry(t.album.0).or_default();
        *n += 1;
        let mut all: Vec<GenreId> = Vec::new();
        for g in &t.genres {
            let mut cur = Some(*g);
            while let Some(c) = cur {
                if !all.contains(&c) {
                    all.push(c);
                }
                cur = parent.get(&c).copied().flatten();
            }
        }
        all.sort();
        let value = |top: &str, name: &str| -> String {
            match (top, name) {
                ("album", "comments") | ("album", "favorites") | ("album", "listens") => "0".into(),
                ("album", "date_created") => date(t.album.0 * 37),
                ("album", "id") => t.album.0.to_string(),
                ("album", "tags") | ("artist", "tags") | ("track", "tags") => "[]".into(),
                ("album", "title") => album_title(t.album.0),
                ("album", "tracks") => album_sizes[&t.album.0].to_string(),
                ("album", "type") => "Album".into(),
                ("artist", "bio") => artist_bio(t.artist.0),
                ("artist", "comments") | ("artist", "favorites") => "0".into(),
                ("artist", "date_created") => date(t.artist.0 * 53),
                ("artist", "id") => t.artist.0.to_string(),
                ("artist", "name") => artist_name(t.artist.0),
                ("set", "split") => match t.official_split {
                    Some(SplitName::Train) => "training".into(),
                    Some(SplitName::Validation) => "validation".into(),
                    Some(SplitName::Test) => "test".into(),
                    None => String::new(),
                },
                ("set", "subset") => subset.into(),
                ("track", "bit_rate") => (sample_rate * 16).to_string(),
                ("track", "comments")
                | ("track", "favorites")
                | ("track", "interest")
                | ("track", "listens") => "0".into(),
                ("track", "date_created") => date(t.id.0 * 11),
                ("track", "duration") => format!("{}", seconds.round() as u64),
                ("track", "genre_top") => d.genres[t.genre].title.clone(),
                ("track", "genres") => id_list(&t.genres),
                ("track", "genres_all") => id_list(&all),
                ("track", "license") => {
                    "Attribution-NonCommercial-ShareAlike 3.0 International".into()
                }
                ("track", "number") => n.to_string(),
                ("track", "title") => t.title.clone(),
                _ => String::new(),
            }
        };
        let mut row = vec![t.id.0.to_string()];
        row.extend(TRACKS_COLUMNS.iter().map(|(a, b)| value(a, b)));
        rows.push(row);
    }
    rows
}

fn genres_rows(d: &Dataset) -> Vec<Vec<String>> {
    let mut counts: HashMap<GenreId, usize> = HashMap::new();
    let parent: HashMap<GenreId, Option<GenreId>> =
        d.genre_tree.iter().map(|n| (n.id, n.parent)).collect();
    for t in &d.tracks {
        let mut seen = Vec::new();
        for g in &t.genres {
            let mut cur = Some(*g);
            while let Some(c) = cur {
                if !seen.contains(&c) {
                    seen.push(c);
                    *counts.entry(c).or_default() += 1;
                }
                cur = parent.get(&c).copied().flatten();
            }
        }
    }
    let mut rows = vec![vec!["genre_id", "#tracks", "parent", "title", "top_level"]
        .into_iter()
        .map(String::from)
        .collect()];
    for n in &d.genre_tree {
        rows.push(vec![
            n.id.0.to_string(),
            counts.get(&n.id).copied().unwrap_or(0).to_string(),
            n.parent.map(|p| p.0).unwrap_or(0).to_string(),
            n.title.clone(),
            n.top_level.0.to_string(),
        ]);
    }
    rows
}

fn truth_rows(world: &SyntheticWorld) -> Vec<Vec<String>> {
    let d = world.dataset();
    let t = world.ground_truth();
    let corrupted: HashMap<u32, &super::AlbumCorruption> =
        t.corrupted_albums.iter().map(|c| (c.album.0, c)).collect();
    let mut rows = vec![[
        "track_id",
        "artist_id",
        "album_id",
        "artist_group",
        "true_genre_top",
        "true_genre_id",
        "true_subgenre_id",
        "published_genre_top",
        "published_subgenre_id",
        "album_label_corrupted",
        "corruption",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()];
    for (i, tr) in d.tracks.iter().enumerate() {
        let c = corrupted.get(&tr.album.0);
        rows.push(vec![
            tr.id.0.to_string(),
            tr.artist.0.to_string(),
            tr.album.0.to_string(),
            t.artist_group[&tr.artist].to_string(),
            d.genres[t.true_genre[i]].title.clone(),
            d.genres[t.true_genre[i]].id.0.to_string(),
            t.true_subgenre[i].0.to_string(),
            d.genres[tr.genre].title.clone(),
            tr.genres
                .first()
                .map(|g| g.0.to_string())
                .unwrap_or_default(),
            if c.is_some() { "1" } else { "0" }.into(),
            c.map(|c| if c.related { "related" } else { "random" })
                .unwrap_or("")
                .into(),
        ]);
    }
    rows
}
