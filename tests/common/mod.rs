//! What the integration tests share: running the real binary, writing specs into temporary
//! folders, running a spec in a temporary store, and opening a store as `agf` does.

#![allow(dead_code)] // each test file uses its own share of these

use agf::pipeline::{RunFolders, RunOutcome, Workspace};
use agf::spec::Resolved;
use agf::store::{Store, StoreLocation};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The `agf` binary with its store at `db` (runs and cache beside it, as by default).
pub fn agf_cmd(db: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_agf"));
    c.env("AGF_DB", db).env("RUST_LOG", "warn");
    c
}

/// Run `agf args…` against the store at `db`.
pub fn agf(db: &Path, args: &[&str]) -> Output {
    agf_cmd(db)
        .args(args)
        .output()
        .expect("the agf binary runs")
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Write `text` to `dir/name`.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Parse and resolve spec text (it must be valid).
pub fn spec(text: &str, name: &str) -> Resolved {
    agf::stages::parse_spec(text, Path::new(name)).unwrap_or_else(|e| panic!("{e}"))
}

/// The store at `db`, its run folders beside it (as `agf` opens it by default).
pub fn open_store(db: &Path) -> Store {
    Store::open(
        &StoreLocation::Sqlite(db.to_path_buf()),
        Box::new(folders(db)),
    )
    .unwrap()
}

/// The run folders beside the store at `db`.
pub fn folders(db: &Path) -> RunFolders {
    RunFolders::new(db.parent().unwrap())
}

/// Run `spec` in the store `dir/agf.sqlite` with its cache in `dir/cache`.
pub fn run_in(spec: &Resolved, dir: &Path) -> (Store, RunOutcome) {
    let db = dir.join("agf.sqlite");
    let store = open_store(&db);
    let cache = agf::cache::StageCache::new(dir.join("cache"));
    let folders = folders(&db);
    let prepared =
        agf::pipeline::prepare(spec).unwrap_or_else(|e| panic!("{}", agf::errors::one_line(&e)));
    let out = agf::pipeline::run(
        spec,
        prepared,
        Workspace {
            store: &store,
            cache: &cache,
            folders: &folders,
        },
    )
    .unwrap_or_else(|e| panic!("{}", agf::errors::one_line(&e)));
    (store, out)
}

/// Run spec text in a fresh temporary store (kept alive by the returned folder).
pub fn run_in_temp_store(text: &str, name: &str) -> (tempfile::TempDir, Store, RunOutcome) {
    let dir = tempfile::tempdir().unwrap();
    let (store, out) = run_in(&spec(text, name), dir.path());
    (dir, store, out)
}

/// One track of a hand-made FMA-layout fixture.
pub struct FixtureTrack {
    pub id: u32,
    pub artist: u32,
    pub album: u32,
    /// A top-level genre title of [`FIXTURE_GENRES`].
    pub genre: &'static str,
    /// FMA's `set.split`: training, validation or test.
    pub split: &'static str,
}

/// The fixture's genre tree: (id, title), all top-level.
pub const FIXTURE_GENRES: [(u32, &str); 4] =
    [(2, "Blues"), (5, "Classical"), (9, "Folk"), (12, "Rock")];

/// Write `fma_metadata/` (tracks.csv in FMA's three-line header layout, with the columns the
/// loader reads; genres.csv) and, when `audio` names a folder, 1.5 s 16 kHz WAVs whose pitch
/// follows the genre and whose timbre follows the artist.
pub fn write_fma(root: &Path, tracks: &[FixtureTrack], audio: Option<&str>) {
    let meta = root.join("fma_metadata");
    std::fs::create_dir_all(&meta).unwrap();
    let cols = [
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
    let mut csv = format!(
        ",{}\n,{}\ntrack_id{}\n",
        cols.map(|c| c.0).join(","),
        cols.map(|c| c.1).join(","),
        ",".repeat(cols.len())
    );
    let genre_id = |title: &str| FIXTURE_GENRES.iter().find(|g| g.1 == title).unwrap().0;
    for t in tracks {
        let g = genre_id(t.genre);
        csv.push_str(&format!(
            "{},{},album {},{},artist {},{},medium,256000,1.5,{},[{g}],[{g}],[],track {}\n",
            t.id, t.album, t.album, t.artist, t.artist, t.split, t.genre, t.id
        ));
    }
    std::fs::write(meta.join("tracks.csv"), csv).unwrap();
    let mut genres = String::from("genre_id,#tracks,parent,title,top_level\n");
    for (id, title) in FIXTURE_GENRES {
        genres.push_str(&format!("{id},1,0,{title},{id}\n"));
    }
    std::fs::write(meta.join("genres.csv"), genres).unwrap();
    let Some(folder) = audio else { return };
    for t in tracks {
        let pitch =
            110.0 * (1 + FIXTURE_GENRES.iter().position(|g| g.1 == t.genre).unwrap()) as f32;
        let bright = 1.0 + (t.artist % 5) as f32;
        let samples: Vec<f32> = (0..24_000)
            .map(|n| {
                let x = n as f32 / 16_000.0 * std::f32::consts::TAU * pitch;
                0.3 * x.sin()
                    + 0.1 * (bright * x).sin()
                    + 0.02 * ((n * 7919 % 101) as f32 / 50.0 - 1.0)
            })
            .collect();
        let path = agf::data::fma::audio_path(&root.join(folder), agf::data::TrackId(t.id), "wav");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, agf::data::synth::wav::encode_pcm16(&samples, 16_000)).unwrap();
    }
}

/// A spec reading the fixture at `root` (subset medium) with `split` as its `[split]` body.
pub fn fma_spec(root: &Path, split: &str, extra: &str) -> String {
    format!(
        r#"name = "fixture"
seed = 3
[dataset]
source = "fma"
[dataset.fma]
root = "{}"
subset = "medium"
[frontend]
sample_rate = 16000
n_fft = 512
hop_length = 256
n_mels = 32
n_mfcc = 13
[split]
{split}
[model]
kind = "logreg"
epochs = 30
{extra}"#,
        root.display()
    )
}

/// A fixture's JSON array of numbers.
pub fn floats(v: &serde_json::Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

/// A fresh, empty PostgreSQL database on the test server (`AGF_TEST_POSTGRES`, which
/// `scripts/pg-test-server.sh` exports), as a URL with the role's password; `None`, said on
/// stderr, where there is no server, unless `AGF_REQUIRE_POSTGRES=1` (CI) makes that a
/// failure.
pub fn pg_database(test: &str) -> Option<String> {
    let Ok(server) = std::env::var("AGF_TEST_POSTGRES") else {
        if std::env::var("AGF_REQUIRE_POSTGRES").as_deref() == Ok("1") {
            panic!("AGF_REQUIRE_POSTGRES=1 but AGF_TEST_POSTGRES is not set");
        }
        eprintln!(
            "{test}: skipped on PostgreSQL: no server (AGF_TEST_POSTGRES unset; \
             `eval \"$(scripts/pg-test-server.sh start /tmp/agf-pg)\"` starts one)"
        );
        return None;
    };
    static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let name = format!(
        "agf_{}_{}_{}",
        test.to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect::<String>(),
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&server)
            .await
            .unwrap_or_else(|e| panic!("cannot reach the test server: {e}"));
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .unwrap();
    });
    let base = server
        .rsplit_once('/')
        .map(|(b, _)| b)
        .expect("a URL ending in a database");
    Some(format!("{base}/{name}"))
}

/// Open the store at `location` (created if needed), its run folders in `dir`.
pub fn open_at(location: &str, dir: &Path) -> Store {
    Store::open(
        &StoreLocation::parse(location),
        Box::new(RunFolders::new(dir)),
    )
    .unwrap()
}

/// A small generated world (4 genres, 48 artists, clips of 1.5 s) with clean published
/// labels and a label-noise section at rate 0, trained by the logistic baseline only: a run
/// takes about a second, so sweeps over it can have many seeds.
pub const SMALL_NOISE_SPEC: &str = r#"
name = "noisy"
seed = 1
[dataset]
source = "synthetic"
seed = 5
[dataset.synthetic]
genres = 4
groups = 4
artists = 48
albums_per_artist = [1, 2]
tracks_per_album = [3, 5]
label_noise = 0.0
album_coherence = 1.0
clip_seconds = 1.5
sample_rate = 16000
[frontend]
sample_rate = 16000
n_fft = 512
hop_length = 256
n_mels = 32
n_mfcc = 13
[split]
strategy = "artist"
[noise]
kind = "symmetric"
rate = 0.0
[model]
kind = "logreg"
epochs = 80
"#;
