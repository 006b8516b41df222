-- Every track a run used: its artist and album (a bootstrap over artists resamples them
-- whole; the label-noise audit groups suspects by album), its split, its label as published
-- and, on generated worlds, its true genre.
CREATE TABLE tracks (
    run_id     INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    track_id   INTEGER NOT NULL,
    artist_id  INTEGER NOT NULL,
    album_id   INTEGER NOT NULL,
    split      TEXT    NOT NULL,
    published  INTEGER NOT NULL,
    true_label INTEGER,
    PRIMARY KEY (run_id, track_id)
);
