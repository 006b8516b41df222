//! The label-noise audit as a user runs it: `agf audit RUN` on a generated world whose
//! uploaders mislabelled whole albums finds most of the wrong labels and albums, far more
//! than the same confident learning on the run's own in-sample predictions (the trap the
//! out-of-fold stage exists for); `agf audit --predictions` names what is wrong in a file.

mod common;

use agf::audit::confident::{self, Examples, FilterBy};
use agf::record::{ModelName, SplitKey};
use common::{agf, open_store, stderr, stdout, write};

/// The quickstart's world with six genres, every album's tracks of one sub-genre and 15% of
/// albums labelled wrongly by their uploader (to another genre at random); the baseline only.
const SPEC: &str = r#"
name = "audited"
seed = 7
[dataset]
source = "synthetic"
[dataset.synthetic]
genres = 6
subgenres_per_genre = [2, 4]
groups = 12
artists = 80
albums_per_artist = [1, 3]
tracks_per_album = [3, 8]
album_coherence = 1.0
label_noise = 0.15
related_noise = 0.0
clip_seconds = 5.0
sample_rate = 22050
[frontend]
sample_rate = 22050
n_fft = 1024
hop_length = 512
n_mels = 64
n_mfcc = 20
[split]
strategy = "artist"
[model]
kind = "logreg"
epochs = 400
learning_rate = 0.05
l2 = 0.01
patience = 50
"#;

#[test]
fn out_of_fold_confident_learning_finds_the_mislabelled_albums() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agf.sqlite");
    let spec = write(
        dir.path(),
        "audited.toml",
        &format!("{SPEC}\n[audit]\nretrain = \"drop\"\n"),
    );
    let o = agf(&db, &["run", spec.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let a = agf(&db, &["audit", "1", "--format", "json"]);
    assert!(a.status.success(), "{}", stderr(&a));
    let v: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    let tracks = &v["truth"]["tracks"];
    let albums = &v["truth"]["albums"];
    let f = |x: &serde_json::Value, k: &str| x[k].as_f64().unwrap();
    let wrong = f(tracks, "wrong");
    let n = v["tracks"].as_f64().unwrap();
    assert!(wrong > 0.05 * n, "the world has wrong labels: {tracks}");
    // Most wrong labels and albums are found, and a flagged label is wrong far more often
    // than a label picked at random.
    assert!(f(tracks, "recall") >= 0.8, "{tracks}");
    assert!(f(albums, "recall") >= 0.8, "{albums}");
    assert!(f(tracks, "precision") >= 2.0 * wrong / n, "{tracks}");

    // The same rule on the run's in-sample predictions of its training tracks misses most:
    // the model learned the albums' wrong labels.
    let store = open_store(&db);
    let run = store.runs().unwrap()[0].id;
    let train: Vec<_> = store
        .predictions(run, &ModelName::Baseline)
        .unwrap()
        .into_iter()
        .filter(|p| p.split == SplitKey::Train)
        .collect();
    let k = train[0].probabilities.len();
    let labels: Vec<usize> = train.iter().map(|p| p.label).collect();
    let probs: Vec<f64> = train
        .iter()
        .flat_map(|p| p.probabilities.iter().map(|&x| x as f64))
        .collect();
    let ex = Examples::new(&labels, &probs, k).unwrap();
    let in_sample = confident::audit(&ex, FilterBy::PruneByNoiseRate);
    let hits = train
        .iter()
        .zip(&in_sample.issues)
        .filter(|(p, &flag)| flag && Some(p.label) != p.true_label)
        .count() as f64;
    assert!(
        f(tracks, "hits") >= 2.0 * hits,
        "out of fold {} wrong labels found, in sample {hits}",
        f(tracks, "hits")
    );
    // `[audit]` ran the same audit within the run and recorded it; the baseline trained
    // again without the flagged tracks and on the true labels is scored beside the baseline,
    // and the true labels beat the published ones on the true test genres.
    let audit = |name: &str| {
        store
            .metric(run, &ModelName::Audit, SplitKey::Train, name)
            .unwrap()
            .unwrap()
    };
    assert_eq!(audit("flagged"), f(tracks, "flagged"));
    let stored = store.predictions(run, &ModelName::Audit).unwrap();
    assert_eq!(
        stored.len(),
        n as usize,
        "every training track's out-of-fold probabilities"
    );
    assert_eq!(audit("track_recall"), f(tracks, "recall"));
    let score = |m: &ModelName, split, name| store.metric(run, m, split, name).unwrap().unwrap();
    let cleaned = ModelName::BaselineOn("cleaned".into());
    let truth = ModelName::BaselineOn("true".into());
    assert_eq!(
        score(&cleaned, SplitKey::Train, "n_tracks"),
        n - audit("flagged")
    );
    assert!(
        score(&truth, SplitKey::TestClean, "log_loss")
            < score(&ModelName::Baseline, SplitKey::TestClean, "log_loss")
    );
    let out = dir.path().join("report");
    let r = agf(&db, &["report", "--out", out.to_str().unwrap()]);
    assert!(r.status.success(), "{}", stderr(&r));
    let page = std::fs::read_to_string(out.join("runs/1.html")).unwrap();
    for want in [
        "Label audit",
        "The effect of cleaning",
        "Estimated noise matrix",
        "True noise matrix",
        "Albums likeliest mislabelled",
        ">logreg.cleaned</td>",
    ] {
        assert!(page.contains(want), "{want}");
    }

    // The run's folder holds the probabilities and the ranked issues.
    let folder = dir.path().join("1/audit");
    let oof = std::fs::read_to_string(folder.join("oof.csv")).unwrap();
    assert_eq!(oof.lines().count() - 1, n as usize);
    let issues = std::fs::read_to_string(folder.join("issues.csv")).unwrap();
    assert_eq!(
        issues.lines().count() - 1,
        v["flagged"].as_array().unwrap().len()
    );
}

#[test]
fn a_predictions_file_with_mistakes_is_refused_naming_the_line() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("agf.sqlite");
    let header = "track_id,label,rock,jazz\n";
    for (body, want) in [
        (
            "1,rock,0.9,0.1\n2,jazz,0.7,0.7\n",
            "bad.csv:3: the probabilities sum to 1.4",
        ),
        (
            "1,rock,0.9,0.1\n2,blues,0.5,0.5\n",
            "bad.csv:3: label `blues` is not a class of the header (rock, jazz)",
        ),
        (
            "1,rock,0.9,x\n",
            "bad.csv:2: column `jazz`: `x` is not a probability in [0, 1]",
        ),
        (
            "1,rock,0.9,0.1\n1,jazz,0.2,0.8\n",
            "bad.csv:3: track 1 is listed twice (first on line 2)",
        ),
    ] {
        let file = write(dir.path(), "bad.csv", &format!("{header}{body}"));
        let o = agf(&db, &["audit", "--predictions", file.to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains(want), "{want:?} in {}", stderr(&o));
    }
    let file = write(
        dir.path(),
        "bad.csv",
        "track,label,rock,jazz\n1,rock,0.9,0.1\n",
    );
    let o = agf(&db, &["audit", "--predictions", file.to_str().unwrap()]);
    assert!(
        stderr(&o).contains("no `track_id` column"),
        "{}",
        stderr(&o)
    );
}
