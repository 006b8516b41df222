//! The real FMA: `tracks.csv`, `genres.csv`, `features.csv` and the audio folders.
//!
//! The parser is exact about FMA's format: two header rows (top level, column name) and a
//! `track_id` line, RFC 4180 quoting (commas, quotes and newlines inside fields),
//! Python-literal lists in `genres`, `genres_all` and `tags`, empty values, `-1` ids. Every
//! problem is an error naming the file, line and column; nothing is defaulted silently.
//! Subsets nest (small ⊂ medium ⊂ large; `full` is every track).

use super::pylist::{parse_int_list, parse_str_list};
use super::split::SplitName;
use super::{
    AlbumId, ArtistId, AudioError, AudioSource, Dataset, Genre, GenreId, GenreNode, Track,
    TrackAudio, TrackId,
};
use crate::spec::{FmaSpec, FmaSubset};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum FmaError {
    #[error("cannot read {}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}:{line}: {message}", path.display())]
    Row {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{}:{line}:{column}: column `{name}`: {message}", path.display())]
    Field {
        path: PathBuf,
        line: u64,
        column: usize,
        name: String,
        message: String,
    },
    #[error("{}:{line}: missing column `{name}`; FMA's {file} has it (is this the right file?)", path.display())]
    MissingColumn {
        path: PathBuf,
        line: u64,
        name: String,
        file: &'static str,
    },
    #[error("{}: no track belongs to subset `{subset}` (subsets present: {present}); choose one of those in dataset.fma.subset", path.display())]
    EmptySubset {
        path: PathBuf,
        subset: String,
        present: String,
    },
}

/// One row of `tracks.csv`, the fields agf uses.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FmaTrack {
    /// Line of `tracks.csv` where the row starts, for messages.
    pub line: u64,
    pub id: TrackId,
    pub artist: ArtistId,
    pub artist_name: String,
    /// `None` where FMA writes −1 or nothing.
    pub album: Option<AlbumId>,
    pub album_title: String,
    pub title: String,
    pub duration: Option<f64>,
    pub bit_rate: Option<u32>,
    pub genre_top: Option<String>,
    pub genres: Vec<GenreId>,
    pub genres_all: Vec<GenreId>,
    pub tags: Vec<String>,
    pub split: Option<SplitName>,
    pub subset: Option<FmaSubset>,
}

/// Column positions in FMA's `tracks.csv`, found by (top level, name).
struct Columns {
    index: HashMap<(String, String), usize>,
}

const USED: [(&str, &str); 13] = [
    ("album", "id"),
    ("album", "title"),
    ("artist", "id"),
    ("artist", "name"),
    ("set", "split"),
    ("set", "subset"),
    ("track", "bit_rate"),
    ("track", "duration"),
    ("track", "genre_top"),
    ("track", "genres"),
    ("track", "genres_all"),
    ("track", "tags"),
    ("track", "title"),
];

fn csv_reader(path: &Path) -> Result<csv::Reader<std::fs::File>, FmaError> {
    let file = std::fs::File::open(path).map_err(|source| FmaError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(file))
}

fn row_error(path: &Path, e: csv::Error) -> FmaError {
    let line = e.position().map(|p| p.line()).unwrap_or(0);
    match e.kind() {
        csv::ErrorKind::Io(_) => FmaError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        },
        _ => FmaError::Row {
            path: path.to_path_buf(),
            line,
            message: format!("malformed CSV: {e}"),
        },
    }
}

/// Read the next data row into `rec`; its first line, or `None` at the end of the file.
fn next_row(
    rdr: &mut csv::Reader<std::fs::File>,
    rec: &mut csv::StringRecord,
    path: &Path,
) -> Result<Option<u64>, FmaError> {
    let line = rdr.position().line();
    match rdr.read_record(rec) {
        Ok(false) => Ok(None),
        Ok(true) => Ok(Some(line)),
        Err(e) => Err(row_error(path, e)),
    }
}

fn next_record(
    rdr: &mut csv::Reader<std::fs::File>,
    path: &Path,
    what: &str,
) -> Result<csv::StringRecord, FmaError> {
    let mut rec = csv::StringRecord::new();
    match rdr.read_record(&mut rec) {
        Ok(true) => Ok(rec),
        Ok(false) => Err(FmaError::Row {
            path: path.to_path_buf(),
            line: rdr.position().line(),
            message: format!("file ends before {what}"),
        }),
        Err(e) => Err(row_error(path, e)),
    }
}

/// Read `tracks.csv` whole.
pub fn load_tracks(path: &Path) -> Result<Vec<FmaTrack>, FmaError> {
    let mut rdr = csv_reader(path)?;
    let top = next_record(
        &mut rdr,
        path,
        "the first header row (album, artist, set, track)",
    )?;
    let names = next_record(&mut rdr, path, "the second header row (column names)")?;
    let id_line = next_record(&mut rdr, path, "the `track_id` line")?;
    if id_line.get(0) != Some("track_id") {
        return Err(FmaError::Row {
            path: path.to_path_buf(),
            line: 3,
            message: format!(
                "expected the third line to start with `track_id`, found `{}`",
                id_line.get(0).unwrap_or("")
            ),
        });
    }
    let width = top.len();
    if names.len() != width {
        return Err(FmaError::Row {
            path: path.to_path_buf(),
            line: 2,
            message: format!(
                "the two header rows differ in length ({width} and {} fields)",
                names.len()
            ),
        });
    }
    // pandas writes the top level only where it changes in some exports; carry it forward.
    let mut index = HashMap::new();
    let mut current = String::new();
    for i in 1..width {
        let t = top.get(i).unwrap_or("");
        if !t.is_empty() {
            current = t.to_string();
        }
        index.insert((current.clone(), names.get(i).unwrap_or("").to_string()), i);
    }
    let cols = Columns { index };
    for (a, b) in USED {
        if !cols.index.contains_key(&(a.to_string(), b.to_string())) {
            return Err(FmaError::MissingColumn {
                path: path.to_path_buf(),
                line: 2,
                name: format!("{a}.{b}"),
                file: "tracks.csv",
            });
        }
    }
    let col = |a: &str, b: &str| cols.index[&(a.to_string(), b.to_string())];
    let c = [
        col("album", "id"),
        col("album", "title"),
        col("artist", "id"),
        col("artist", "name"),
        col("set", "split"),
        col("set", "subset"),
        col("track", "bit_rate"),
        col("track", "duration"),
        col("track", "genre_top"),
        col("track", "genres"),
        col("track", "genres_all"),
        col("track", "tags"),
        col("track", "title"),
    ];

    let mut out = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut rec = csv::StringRecord::new();
    while let Some(line) = next_row(&mut rdr, &mut rec, path)? {
        if rec.len() != width {
            return Err(FmaError::Row {
                path: path.to_path_buf(),
                line,
                message: format!(
                    "expected {width} fields like the header, found {}",
                    rec.len()
                ),
            });
        }
        let field = |i: usize, message: String| FmaError::Field {
            path: path.to_path_buf(),
            line,
            column: i + 1,
            name: if i == 0 {
                "track_id".into()
            } else {
                format!("{}.{}", cols_name(&cols, i).0, cols_name(&cols, i).1)
            },
            message,
        };
        let get = |i: usize| rec.get(i).unwrap_or("").trim();
        let int = |i: usize| -> Result<Option<i64>, FmaError> {
            let v = get(i);
            if v.is_empty() {
                return Ok(None);
            }
            // pandas writes integer columns with missing values as floats (`5.0`).
            let parsed = v.parse::<i64>().ok().or_else(|| {
                v.parse::<f64>()
                    .ok()
                    .filter(|f| f.fract() == 0.0)
                    .map(|f| f as i64)
            });
            parsed
                .map(Some)
                .ok_or_else(|| field(i, format!("expected an integer, got `{v}`")))
        };
        let id = int(0)?
            .filter(|v| *v > 0)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| {
                field(
                    0,
                    format!("expected a track id in 1..=4294967295, got `{}`", get(0)),
                )
            })?;
        if !seen.insert(id) {
            return Err(field(0, format!("track id {id} appears twice")));
        }
        let artist = int(c[2])?
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| {
                field(
                    c[2],
                    format!(
                        "expected an artist id in 0..=4294967295, got `{}`",
                        get(c[2])
                    ),
                )
            })?;
        let album = match int(c[0])? {
            None | Some(-1) => None,
            Some(v) => Some(AlbumId(u32::try_from(v).map_err(|_| {
                field(
                    c[0],
                    format!("expected an album id in 0..=4294967295 or -1, got `{v}`"),
                )
            })?)),
        };
        let genres = parse_int_list(get(c[9])).map_err(|m| field(c[9], m))?;
        let genres_all = parse_int_list(get(c[10])).map_err(|m| field(c[10], m))?;
        let tags = parse_str_list(get(c[11])).map_err(|m| field(c[11], m))?;
        let split = match get(c[4]) {
            "" => None,
            "training" => Some(SplitName::Train),
            "validation" => Some(SplitName::Validation),
            "test" => Some(SplitName::Test),
            other => {
                return Err(field(
                    c[4],
                    format!("expected training, validation or test, got `{other}`"),
                ))
            }
        };
        let subset = match get(c[5]) {
            "" => None,
            "small" => Some(FmaSubset::Small),
            "medium" => Some(FmaSubset::Medium),
            "large" => Some(FmaSubset::Large),
            other => {
                return Err(field(
                    c[5],
                    format!("expected small, medium or large, got `{other}`"),
                ))
            }
        };
        let duration = match get(c[7]) {
            "" => None,
            v => Some(
                v.parse::<f64>()
                    .map_err(|_| field(c[7], format!("expected seconds, got `{v}`")))?,
            ),
        };
        let to_ids = |v: Vec<i64>, i: usize| -> Result<Vec<GenreId>, FmaError> {
            v.into_iter()
                .map(|g| {
                    u32::try_from(g)
                        .map(GenreId)
                        .map_err(|_| field(i, format!("expected a genre id ≥ 0, got {g}")))
                })
                .collect()
        };
        out.push(FmaTrack {
            line,
            id: TrackId(id),
            artist: ArtistId(artist),
            artist_name: rec.get(c[3]).unwrap_or("").to_string(),
            album,
            album_title: rec.get(c[1]).unwrap_or("").to_string(),
            title: rec.get(c[12]).unwrap_or("").to_string(),
            duration,
            bit_rate: int(c[6])?.and_then(|v| u32::try_from(v).ok()),
            genre_top: Some(get(c[8]).to_string()).filter(|s| !s.is_empty()),
            genres: to_ids(genres, c[9])?,
            genres_all: to_ids(genres_all, c[10])?,
            tags,
            split,
            subset,
        });
    }
    Ok(out)
}

fn cols_name(cols: &Columns, i: usize) -> (String, String) {
    cols.index
        .iter()
        .find(|(_, v)| **v == i)
        .map(|(k, _)| k.clone())
        .unwrap_or_default()
}

/// Read `genres.csv`: `genre_id,#tracks,parent,title,top_level` (parent 0 = root).
pub fn load_genres(path: &Path) -> Result<Vec<GenreNode>, FmaError> {
    let mut rdr = csv_reader(path)?;
    let header = next_record(&mut rdr, path, "the header")?;
    let want = ["genre_id", "#tracks", "parent", "title", "top_level"];
    let mut pos = [0usize; 5];
    for (k, name) in want.iter().enumerate() {
        pos[k] = header
            .iter()
            .position(|h| h.trim() == *name)
            .ok_or_else(|| FmaError::MissingColumn {
                path: path.to_path_buf(),
                line: 1,
                name: name.to_string(),
                file: "genres.csv",
            })?;
    }
    let mut lines = Vec::new();
    let mut out = Vec::new();
    let mut rec = csv::StringRecord::new();
    while let Some(line) = next_row(&mut rdr, &mut rec, path)? {
        let num = |k: usize| -> Result<u32, FmaError> {
            let v = rec.get(pos[k]).unwrap_or("").trim();
            v.parse::<u32>().map_err(|_| FmaError::Field {
                path: path.to_path_buf(),
                line,
                column: pos[k] + 1,
                name: want[k].into(),
                message: format!("expected a non-negative integer, got `{v}`"),
            })
        };
        let id = GenreId(num(0)?);
        let parent = num(2)?;
        lines.push(line);
        out.push(GenreNode {
            id,
            parent: (parent != 0).then_some(GenreId(parent)),
            title: rec.get(pos[3]).unwrap_or("").to_string(),
            top_level: GenreId(num(4)?),
        });
    }
    let known: std::collections::HashSet<GenreId> = out.iter().map(|g| g.id).collect();
    for (i, g) in out.iter().enumerate() {
        for (what, id) in [("parent", g.parent), ("top_level", Some(g.top_level))] {
            if let Some(id) = id.filter(|id| !known.contains(id)) {
                return Err(FmaError::Row {
                    path: path.to_path_buf(),
                    line: lines[i],
                    message: format!(
                        "genre {} names {what} {id}, which is not a genre of this file",
                        g.id
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// Track-level features by track id.
pub type FeatureTable = HashMap<TrackId, Vec<f32>>;

/// Read `features.csv`: three header rows (feature, statistic, number) and a `track_id`
/// line, then one row of floats per track. Returns column names `feature.statistic.number`.
pub fn load_features(path: &Path) -> Result<(Vec<String>, FeatureTable), FmaError> {
    let mut rdr = csv_reader(path)?;
    let f = next_record(&mut rdr, path, "the `feature` header row")?;
    let s = next_record(&mut rdr, path, "the `statistics` header row")?;
    let n = next_record(&mut rdr, path, "the `number` header row")?;
    let id_line = next_record(&mut rdr, path, "the `track_id` line")?;
    if id_line.get(0) != Some("track_id") {
        return Err(FmaError::Row {
            path: path.to_path_buf(),
            line: 4,
            message: "expected the fourth line to start with `track_id`".into(),
        });
    }
    let width = f.len();
    if width < 2 {
        return Err(FmaError::Row {
            path: path.to_path_buf(),
            line: 1,
            message: "expected at least one feature column after track_id".into(),
        });
    }
    let names: Vec<String> = (1..width)
        .map(|i| {
            format!(
                "{}.{}.{}",
                f.get(i).unwrap_or(""),
                s.get(i).unwrap_or(""),
                n.get(i).unwrap_or("")
            )
        })
        .collect();
    let mut rows = HashMap::new();
    let mut rec = csv::StringRecord::new();
    while let Some(line) = next_row(&mut rdr, &mut rec, path)? {
        if rec.len() != width {
            return Err(FmaError::Row {
                path: path.to_path_buf(),
                line,
                message: format!("expected {width} fields, found {}", rec.len()),
            });
        }
        let bad = |i: usize, m: String| FmaError::Field {
            path: path.to_path_buf(),
            line,
            column: i + 1,
            name: if i == 0 {
                "track_id".into()
            } else {
                names[i - 1].clone()
            },
            message: m,
        };
        let id: u32 = rec.get(0).unwrap_or("").parse().map_err(|_| {
            bad(
                0,
                format!("expected a track id, got `{}`", rec.get(0).unwrap_or("")),
            )
        })?;
        let mut v = Vec::with_capacity(width - 1);
        for i in 1..width {
            let x = rec.get(i).unwrap_or("");
            v.push(
                x.parse::<f32>()
                    .ok()
                    .filter(|v| v.is_finite())
                    .ok_or_else(|| bad(i, format!("expected a finite number, got `{x}`")))?,
            );
        }
        if rows.insert(TrackId(id), v).is_some() {
            return Err(bad(0, format!("track id {id} appears twice")));
        }
    }
    Ok((names, rows))
}

/// The audio path of a track under FMA's layout: `<dir>/NNN/NNNNNN.<ext>`.
pub fn audio_path(audio_dir: &Path, track: TrackId, ext: &str) -> PathBuf {
    let id = format!("{:06}", track.0);
    audio_dir.join(&id[..3]).join(format!("{id}.{ext}"))
}

/// What loading left out, for the run record and `agf data`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct LoadReport {
    pub rows: usize,
    pub in_subset: usize,
    pub without_genre_top: usize,
}

/// Load the dataset a `[dataset.fma]` section describes.
pub fn load_dataset(spec: &FmaSpec) -> Result<(Dataset, LoadReport, Vec<FmaTrack>), FmaError> {
    let meta = spec.root.join("fma_metadata");
    let tracks_path = meta.join("tracks.csv");
    let genres_path = meta.join("genres.csv");
    let all = load_tracks(&tracks_path)?;
    let tree = load_genres(&genres_path)?;
    let known: HashMap<GenreId, &GenreNode> = tree.iter().map(|g| (g.id, g)).collect();

    let selected: Vec<&FmaTrack> = all
        .iter()
        .filter(|t| match spec.subset {
            FmaSubset::Full => true,
            s => t.subset.is_some_and(|ts| ts <= s),
        })
        .collect();
    if selected.is_empty() {
        let mut present: Vec<&str> = all
            .iter()
            .filter_map(|t| t.subset.map(|s| s.as_str()))
            .collect();
        present.sort();
        present.dedup();
        return Err(FmaError::EmptySubset {
            path: tracks_path,
            subset: spec.subset.as_str().into(),
            present: if present.is_empty() {
                "none".into()
            } else {
                present.join(", ")
            },
        });
    }
    // Unknown genre ids are errors: they point at a genres.csv from another FMA version.
    for t in &selected {
        for g in t.genres.iter().chain(&t.genres_all) {
            if !known.contains_key(g) {
                return Err(FmaError::Row {
                    path: tracks_path.clone(),
                    line: t.line,
                    message: format!(
                        "track {} has genre id {g}, which {} does not define",
                        t.id,
                        genres_path.display()
                    ),
                });
            }
        }
    }
    let tops: BTreeMap<&str, &GenreNode> = tree
        .iter()
        .filter(|g| g.parent.is_none())
        .map(|g| (g.title.as_str(), g))
        .collect();
    let mut report = LoadReport {
        rows: all.len(),
        in_subset: selected.len(),
        without_genre_top: 0,
    };
    let mut used_tops: Vec<&GenreNode> = Vec::new();
    for t in &selected {
        match &t.genre_top {
            None => report.without_genre_top += 1,
            Some(title) => {
                let g = tops.get(title.as_str()).ok_or_else(|| FmaError::Row {
                    path: tracks_path.clone(),
                    line: t.line,
                    message: format!(
                        "track {} has genre_top `{title}`, which is not a top-level genre of {}",
                        t.id,
                        genres_path.display()
                    ),
                })?;
                if !used_tops.iter().any(|u| u.id == g.id) {
                    used_tops.push(g);
                }
            }
        }
    }
    used_tops.sort_by_key(|g| g.id);
    let class_of: HashMap<&str, usize> = used_tops
        .iter()
        .enumerate()
        .map(|(i, g)| (g.title.as_str(), i))
        .collect();
    let genres: Vec<Genre> = used_tops
        .iter()
        .map(|g| Genre {
            id: g.id,
            title: g.title.clone(),
        })
        .collect();
    let mut tracks = Vec::new();
    let mut kept = Vec::new();
    for t in selected {
        let Some(title) = &t.genre_top else { continue };
        tracks.push(Track {
            id: t.id,
            artist: t.artist,
            // A track without an album is an album of its own: album-disjoint splits must not
            // group all album-less tracks together.
            album: t.album.unwrap_or(AlbumId(0x8000_0000 | t.id.0)),
            genre: class_of[title.as_str()],
            genres: t.genres.clone(),
            title: t.title.clone(),
            official_split: t.split,
        });
        kept.push(t.clone());
    }
    let audio_dir = spec.root.join(
        spec.audio_dir
            .clone()
            .unwrap_or_else(|| format!("fma_{}", spec.subset.as_str())),
    );
    let audio = FmaAudio {
        dir: audio_dir,
        ext: spec.audio_ext.clone(),
    };
    Ok((
        Dataset {
            name: format!("fma_{}({})", spec.subset.as_str(), spec.root.display()),
            genres,
            genre_tree: tree,
            tracks,
            audio: Box::new(audio),
        },
        report,
        kept,
    ))
}

/// FMA's audio files, one per track under the subset's folder (`audio` decodes them).
pub struct FmaAudio {
    dir: PathBuf,
    ext: Option<String>,
}

impl AudioSource for FmaAudio {
    fn locate(&self, track: &Track) -> Result<TrackAudio, AudioError> {
        Ok(TrackAudio::File(match &self.ext {
            Some(ext) => audio_path(&self.dir, track.id, ext),
            None => ["mp3", "wav", "flac", "ogg"]
                .iter()
                .map(|e| audio_path(&self.dir, track.id, e))
                .find(|p| p.exists())
                .unwrap_or_else(|| audio_path(&self.dir, track.id, "mp3")),
        }))
    }

    fn describe(&self) -> String {
        format!("FMA audio in {}", self.dir.display())
    }

    fn unavailable(&self, tracks: usize) -> Option<String> {
        (!self.dir.is_dir()).then(|| {
            format!(
                "the audio folder {} does not exist; it would hold the audio of {tracks} tracks \
                 (dataset.fma.audio_dir names another folder under dataset.fma.root)",
                self.dir.display()
            )
        })
    }
}
