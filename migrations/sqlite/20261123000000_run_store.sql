-- The run store: one row per run, everything else hangs off it.
CREATE TABLE runs (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    name           TEXT    NOT NULL,
    status         TEXT    NOT NULL
                   CHECK (status IN ('queued', 'running', 'done', 'failed', 'interrupted')),
    spec_toml      TEXT    NOT NULL,  -- the resolved spec, every default written out
    spec_hash      TEXT    NOT NULL,  -- SHA-256 of spec_toml
    seed           INTEGER NOT NULL,
    git_commit     TEXT,              -- NULL outside a git checkout
    git_dirty      INTEGER,           -- 1 when the checkout had uncommitted changes
    crate_version  TEXT    NOT NULL,
    host           TEXT    NOT NULL,
    device         TEXT    NOT NULL,
    headline_model TEXT,              -- the model whose test metrics summarise the run
    started_at     TEXT    NOT NULL,  -- RFC 3339, UTC
    ended_at       TEXT,
    heartbeat_at   TEXT,
    error          TEXT
);
CREATE INDEX runs_by_spec_hash ON runs (spec_hash);

-- The resolved spec, one dotted key per row, for SQL filters like
-- `WHERE key = 'split.strategy' AND value = 'artist'`.
CREATE TABLE params (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key    TEXT    NOT NULL,
    value  TEXT    NOT NULL,
    PRIMARY KEY (run_id, key)
);

-- Scalar results per model and split (log_loss, macro_f1, accuracy, counts, leakage …).
CREATE TABLE metrics (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    model  TEXT    NOT NULL,
    split  TEXT    NOT NULL,
    name   TEXT    NOT NULL,
    value  REAL,
    PRIMARY KEY (run_id, model, split, name)
);

-- Class names of the run, in class-index order.
CREATE TABLE classes (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    class_index INTEGER NOT NULL,
    name        TEXT    NOT NULL,
    PRIMARY KEY (run_id, class_index)
);

CREATE TABLE class_metrics (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    model       TEXT    NOT NULL,
    split       TEXT    NOT NULL,
    class_index INTEGER NOT NULL,
    precision   REAL    NOT NULL,
    recall      REAL    NOT NULL,
    f1          REAL    NOT NULL,
    support     INTEGER NOT NULL,
    PRIMARY KEY (run_id, model, split, class_index)
);

-- Confusion matrices, one row per non-zero cell (rows true, columns predicted).
CREATE TABLE confusion (
    run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    model           TEXT    NOT NULL,
    split           TEXT    NOT NULL,
    true_index      INTEGER NOT NULL,
    predicted_index INTEGER NOT NULL,
    count           INTEGER NOT NULL,
    PRIMARY KEY (run_id, model, split, true_index, predicted_index)
);

-- Per-epoch losses as training goes.
CREATE TABLE epochs (
    run_id          INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    model           TEXT    NOT NULL,
    epoch           INTEGER NOT NULL,
    train_loss      REAL,
    validation_loss REAL,
    PRIMARY KEY (run_id, model, epoch)
);
