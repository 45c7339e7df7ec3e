-- synthorg schema, version 5: the audit trail (SPEC §12).
--
-- One row per audit event, written in the transaction of the change it records. `seq` is
-- the event's place in the hash chain (1, 2, 3… without gaps), assigned by the writer from
-- the last row; `before` and `after` hold the canonical JSON of the changed fields, so the
-- hash can be computed again from the row alone. Rows are only ever appended.
CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    before      TEXT,
    after       TEXT,
    request_id  TEXT,
    trace_id    TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_events_target ON audit_events (target_id, seq);
CREATE INDEX audit_events_actor ON audit_events (actor, seq);

-- What was done about a verdict: the verdict itself, or `allow` for a rules' deny or
-- escalate in shadow mode (`security.mode: shadow`). Rows from before say NULL: enforced.
ALTER TABLE security_evaluations ADD COLUMN action TEXT;
