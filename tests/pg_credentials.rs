//! A PostgreSQL store's password stays secret: given in the URL, it appears in no output
//! (debug logs included), error message, stored row, report file, sweep log or help text;
//! given by `PGPASSWORD` or `~/.pgpass` instead, the store opens the same.

mod common;

use common::{agf_cmd, stderr, stdout, write};
use std::path::Path;
use std::process::Output;

const SPEC: &str = r#"
name = "secretive"
seed = 2
[dataset]
source = "synthetic"
[dataset.synthetic]
genres = 3
artists = 12
albums_per_artist = [1, 2]
tracks_per_album = [3, 4]
clip_seconds = 1.0
sample_rate = 16000
[frontend]
sample_rate = 16000
n_fft = 512
hop_length = 256
n_mels = 32
n_mfcc = 13
[split]
strategy = "artist"
[model]
kind = "logreg"
epochs = 5
"#;

fn password_of(url: &str) -> String {
    let userinfo = url.split("://").nth(1).unwrap().split('@').next().unwrap();
    userinfo.split_once(':').unwrap().1.to_string()
}

fn run(db: &str, dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = agf_cmd(Path::new(db));
    c.env("RUST_LOG", "debug")
        .args(["--runs", dir.join("runs").to_str().unwrap()])
        .args(["--cache", dir.join("cache").to_str().unwrap()])
        .args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// Every file under `dir`, as text where it is text.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                out.push((p, String::from_utf8_lossy(&bytes).into_owned()));
            }
        }
    }
    out
}

#[test]
fn a_store_password_never_shows_and_every_libpq_source_works() {
    let Some(url) = common::pg_database("credentials") else {
        return;
    };
    let secret = password_of(&url);
    assert!(secret.len() >= 8, "the test server's role has a password");
    let dir = tempfile::tempdir().unwrap();
    let spec = write(dir.path(), "secretive.toml", SPEC);
    let sweep_spec = write(
        dir.path(),
        "swept.toml",
        &format!("{SPEC}\n[sweep]\nseeds = [1, 2]\n"),
    );
    let reports = dir.path().join("report");
    let mut seen: Vec<(String, String)> = Vec::new();
    let mut keep = |what: &str, o: &Output| {
        seen.push((what.to_string(), format!("{}{}", stdout(o), stderr(o))));
    };
    let o = run(&url, dir.path(), &["run", spec.to_str().unwrap()], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("postgres://agf:***@"), "{}", stdout(&o));
    keep("agf run", &o);
    let o = run(
        &url,
        dir.path(),
        &[
            "sweep",
            "run",
            sweep_spec.to_str().unwrap(),
            "--workers",
            "2",
            "--report",
            reports.to_str().unwrap(),
        ],
        &[],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    keep("agf sweep run", &o);
    for args in [
        vec!["runs"],
        vec!["runs", "--format", "json"],
        vec!["show", "1"],
        vec!["audit", "1", "--folds", "2"],
        vec!["sweep", "status", "secretive"],
        vec!["sweeps"],
        vec!["report", "--out", reports.to_str().unwrap()],
        vec!["--help"],
        vec!["run", "--help"],
    ] {
        let o = run(&url, dir.path(), &args, &[]);
        assert!(o.status.success(), "agf {args:?}: {}", stderr(&o));
        keep(&format!("agf {args:?}"), &o);
    }
    // Errors: a server that is not there, a wrong password (itself not echoed either).
    let port = url.rsplit(':').next().unwrap().split('/').next().unwrap();
    let nowhere = url.replace(&format!(":{port}/"), ":1/");
    let o = run(&nowhere, dir.path(), &["runs"], &[("AGF_DB", &nowhere)]);
    assert!(!o.status.success());
    keep("unreachable server", &o);
    let wrong = url.replace(&secret, "Wr0ng-pa55word");
    let o = run(&wrong, dir.path(), &["runs"], &[]);
    assert!(!o.status.success());
    assert!(!stderr(&o).contains("Wr0ng-pa55word"), "{}", stderr(&o));
    keep("wrong password", &o);
    for (what, text) in &seen {
        assert!(
            !text.contains(&secret),
            "{what} shows the password:\n{text}"
        );
    }
    // Files: run folders, the sweep's worker logs, the report.
    let files = files_under(dir.path());
    assert!(files
        .iter()
        .any(|(p, _)| p.extension().is_some_and(|e| e == "html")));
    assert!(files
        .iter()
        .any(|(p, _)| p.to_string_lossy().contains("worker-")));
    for (path, text) in &files {
        assert!(
            !text.contains(&secret),
            "{} holds the password",
            path.display()
        );
    }
    // Every row of every table.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let rows: Vec<String> = rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&url).await.unwrap();
        let tables: Vec<String> = sqlx::query_scalar(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
        )
        .fetch_all(&mut c)
        .await
        .unwrap();
        let mut rows = Vec::new();
        for t in tables {
            let mut r: Vec<String> =
                sqlx::query_scalar(&format!("SELECT row_to_json(x)::text FROM {t} x"))
                    .fetch_all(&mut c)
                    .await
                    .unwrap();
            rows.append(&mut r);
        }
        rows
    });
    assert!(rows.len() > 100, "the store holds rows: {}", rows.len());
    assert!(
        rows.iter().all(|r| !r.contains(&secret)),
        "a stored row holds the password"
    );

    // The password from PGPASSWORD, then from ~/.pgpass, with a URL that has none.
    let bare = url.replace(&format!(":{secret}@"), "@");
    assert!(!bare.contains(&secret));
    let o = run(&bare, dir.path(), &["runs"], &[("PGPASSWORD", &secret)]);
    assert!(o.status.success(), "PGPASSWORD: {}", stderr(&o));
    assert!(stdout(&o).contains("secretive"));
    let home = dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let pgpass = home.join(".pgpass");
    std::fs::write(&pgpass, format!("127.0.0.1:{port}:*:agf:{secret}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&pgpass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = run(
        &bare,
        dir.path(),
        &["runs"],
        &[("HOME", home.to_str().unwrap())],
    );
    assert!(o.status.success(), "~/.pgpass: {}", stderr(&o));
    assert!(stdout(&o).contains("secretive"));
    // Without any of the three, the server refuses, and says so.
    let o = run(
        &bare,
        dir.path(),
        &["runs"],
        &[("HOME", dir.path().to_str().unwrap())],
    );
    assert!(!o.status.success());
}
