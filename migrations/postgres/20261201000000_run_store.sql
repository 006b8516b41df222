-- The run store on PostgreSQL: the same tables as the SQLite store (migrations/sqlite/, read
-- there for what each column means), in PostgreSQL's types. Integers are BIGINT throughout,
-- as agf reads every integer as i64; times are RFC 3339 text, as in SQLite.
CREATE TABLE runs (
    id             BIGSERIAL PRIMARY KEY,
    name           TEXT    NOT NULL,
    status         TEXT    NOT NULL
                   CHECK (status IN ('queued', 'running', 'done', 'failed', 'interrupted')),
    spec_toml      TEXT    NOT NULL,
    spec_hash      TEXT    NOT NULL,
    seed           BIGINT  NOT NULL,
    git_commit     TEXT,
    git_dirty      BOOLEAN,
    crate_version  TEXT    NOT NULL,
    host           TEXT    NOT NULL,
    device         TEXT    NOT NULL,
    headline_model TEXT,
    started_at     TEXT    NOT NULL,
    ended_at       TEXT,
    heartbeat_at   TEXT,
    error          TEXT
);
CREATE INDEX runs_by_spec_hash ON runs (spec_hash);

CREATE TABLE params (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key    TEXT   NOT NULL,
    value  TEXT   NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE metrics (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    model  TEXT   NOT NULL,
    split  TEXT   NOT NULL,
    name   TEXT   NOT NULL,
    value  DOUBLE PRECISION,
    PRIMARY KEY (run_id, model, split, name)
);
CREATE INDEX metrics_by_split ON metrics (split);

CREATE TABLE classes (
    run_id      BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    class_index BIGINT NOT NULL,
    name        TEXT   NOT NULL,
    PRIMARY KEY (run_id, class_index)
);

CREATE TABLE class_metrics (
    run_id      BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    model       TEXT   NOT NULL,
    split       TEXT   NOT NULL,
    class_index BIGINT NOT NULL,
    precision   DOUBLE PRECISION NOT NULL,
    recall      DOUBLE PRECISION NOT NULL,
    f1          DOUBLE PRECISION NOT NULL,
    support     BIGINT NOT NULL,
    PRIMARY KEY (run_id, model, split, class_index)
);

CREATE TABLE confusion (
    run_id          BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    model           TEXT   NOT NULL,
    split           TEXT   NOT NULL,
    true_index      BIGINT NOT NULL,
    predicted_index BIGINT NOT NULL,
    count           BIGINT NOT NULL,
    PRIMARY KEY (run_id, model, split, true_index, predicted_index)
);

-- `seq` keeps the order epochs were recorded in (SQLite's rowid does that there).
CREATE TABLE epochs (
    seq             BIGSERIAL,
    run_id          BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    model           TEXT   NOT NULL,
    epoch           BIGINT NOT NULL,
    train_loss      DOUBLE PRECISION,
    validation_loss DOUBLE PRECISION,
    learning_rate   DOUBLE PRECISION,
    task            TEXT,
    PRIMARY KEY (run_id, model, epoch)
);

CREATE TABLE facts (
    run_id BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key    TEXT   NOT NULL,
    value  TEXT   NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE skipped_tracks (
    run_id   BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    track_id BIGINT NOT NULL,
    reason   TEXT   NOT NULL,
    PRIMARY KEY (run_id, track_id)
);

CREATE TABLE label_flips (
    run_id     BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    track_id   BIGINT NOT NULL,
    split      TEXT   NOT NULL,
    from_class BIGINT NOT NULL,
    to_class   BIGINT NOT NULL,
    PRIMARY KEY (run_id, track_id)
);

CREATE TABLE predictions (
    run_id        BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    model         TEXT   NOT NULL,
    track_id      BIGINT NOT NULL,
    split         TEXT   NOT NULL,
    label         BIGINT NOT NULL,
    true_label    BIGINT,
    predicted     BIGINT NOT NULL,
    probabilities TEXT   NOT NULL,
    PRIMARY KEY (run_id, model, track_id)
);

CREATE TABLE tracks (
    run_id     BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    track_id   BIGINT NOT NULL,
    artist_id  BIGINT NOT NULL,
    album_id   BIGINT NOT NULL,
    split      TEXT   NOT NULL,
    published  BIGINT NOT NULL,
    true_label BIGINT,
    PRIMARY KEY (run_id, track_id)
);

CREATE TABLE sweeps (
    name       TEXT PRIMARY KEY,
    spec_path  TEXT NOT NULL,
    spec_text  TEXT NOT NULL,
    baseline   TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);

CREATE TABLE cells (
    id           BIGSERIAL PRIMARY KEY,
    sweep        TEXT   NOT NULL REFERENCES sweeps (name) ON DELETE CASCADE,
    number       BIGINT NOT NULL,
    spec_hash    TEXT   NOT NULL,
    spec_toml    TEXT   NOT NULL,
    arm          TEXT   NOT NULL,
    seed         BIGINT,
    priority     BIGINT NOT NULL,
    status       TEXT   NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts     BIGINT NOT NULL DEFAULT 0,
    failures     BIGINT NOT NULL DEFAULT 0,
    max_failures BIGINT NOT NULL DEFAULT 2,
    run_id       BIGINT REFERENCES runs (id),
    worker       TEXT,
    lease_until  BIGINT,
    error        TEXT,
    updated_at   TEXT   NOT NULL,
    UNIQUE (sweep, spec_hash),
    UNIQUE (sweep, number)
);
CREATE INDEX cells_by_claim_order ON cells (sweep, status, priority, number);
