-- What a run's data looked like: textual facts (split hash, dataset, audio source), the
-- tracks skipped and why, and every injected label flip.
CREATE TABLE facts (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    key    TEXT    NOT NULL,
    value  TEXT    NOT NULL,
    PRIMARY KEY (run_id, key)
);

CREATE TABLE skipped_tracks (
    run_id   INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    track_id INTEGER NOT NULL,
    reason   TEXT    NOT NULL,
    PRIMARY KEY (run_id, track_id)
);

CREATE TABLE label_flips (
    run_id      INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    track_id    INTEGER NOT NULL,
    split       TEXT    NOT NULL,
    from_class  INTEGER NOT NULL,
    to_class    INTEGER NOT NULL,
    PRIMARY KEY (run_id, track_id)
);
