-- synthorg schema, version 5: the audit trail (SPEC §12).
--
-- One row per audit event, written in the transaction of the change it records. `seq` is
-- the event's place in the hash chain (1, 2, 3… without gaps), assigned by the writer from
-- the last row; `before` and `after` hold the JSON of the changed fields, so the
-- hash can be computed again from the row alone; the hashes are kept as their 32 bytes (the
-- API and exports spell them in hex). Rows are only ever appended.
CREATE TABLE audit_events (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL,
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    before      TEXT,
    after       TEXT,
    request_id  TEXT,
    trace_id    TEXT,
    prev_hash   BLOB NOT NULL,
    hash        BLOB NOT NULL
);
-- No index besides `seq`: the chain is appended on every audited write (the hottest is
-- every security verdict) and read rarely, by an operator; filtered lists scan in `seq`
-- order, and each secondary index would cost every write a B-tree insert.

-- What was done about a verdict: the verdict itself, or `allow` for a rules' deny or
-- escalate in shadow mode (`security.mode: shadow`). Rows from before say NULL: enforced.
ALTER TABLE security_evaluations ADD COLUMN action TEXT;
