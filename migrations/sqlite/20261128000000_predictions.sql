-- Every model's class probabilities for every track it scored, so that reports and the
-- label-noise audit read them without parsing files. `label` is what the track was scored
-- against (training labels with injected noise on train and validation, the published label
-- on test); `true_label` is the generator's genre where it is known.
CREATE TABLE predictions (
    run_id        INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    model         TEXT    NOT NULL,
    track_id      INTEGER NOT NULL,
    split         TEXT    NOT NULL,
    label         INTEGER NOT NULL,
    true_label    INTEGER,
    predicted     INTEGER NOT NULL,
    probabilities TEXT    NOT NULL,  -- JSON array in class-index order
    PRIMARY KEY (run_id, model, track_id)
);
