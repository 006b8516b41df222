-- Sweeps and their cells: the work queue that workers claim from. A cell is the hash of its
-- canonical resolved spec; cells are numbered in the order they were added and never
-- renumbered, so editing a sweep (adding a value) only adds cells.
CREATE TABLE sweeps (
    name       TEXT    PRIMARY KEY,
    spec_path  TEXT    NOT NULL,
    spec_text  TEXT    NOT NULL,  -- the sweep's spec file as last run
    baseline   TEXT    NOT NULL,  -- JSON object: the pairs that pick out the baseline arm
    created_at TEXT    NOT NULL,
    updated_at TEXT    NOT NULL
);

CREATE TABLE cells (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    sweep        TEXT    NOT NULL REFERENCES sweeps (name) ON DELETE CASCADE,
    number       INTEGER NOT NULL,
    spec_hash    TEXT    NOT NULL,
    spec_toml    TEXT    NOT NULL,  -- the cell's resolved spec
    arm          TEXT    NOT NULL,  -- JSON object: the axis values without the seed
    seed         INTEGER,           -- the seed axis's value, when there is one
    priority     INTEGER NOT NULL,  -- claim order: cells whose stages others share go first
    status       TEXT    NOT NULL CHECK (status IN ('queued', 'running', 'done', 'failed')),
    attempts     INTEGER NOT NULL DEFAULT 0,  -- claims, including those of killed workers
    failures     INTEGER NOT NULL DEFAULT 0,  -- attempts that ended in an error
    max_failures INTEGER NOT NULL DEFAULT 2,  -- 1 + retries
    run_id       INTEGER REFERENCES runs (id),
    worker       TEXT,                         -- host:pid of the claim's worker
    lease_until  INTEGER,                      -- Unix milliseconds
    error        TEXT,
    updated_at   TEXT    NOT NULL,
    UNIQUE (sweep, spec_hash),
    UNIQUE (sweep, number)
);
CREATE INDEX cells_by_claim_order ON cells (sweep, status, priority, number);
