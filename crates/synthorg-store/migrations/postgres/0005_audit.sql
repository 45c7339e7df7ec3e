-- synthorg schema for PostgreSQL, version 5: the audit trail (see the SQLite schema's
-- version 5).
--
-- Replicas append to one chain: the writer of an event takes a transaction-scoped advisory
-- lock (see `postgres::audit`) before it reads the last event, so `seq` has no gaps and each
-- `prev_hash` is the hash of the event committed just before.
CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY,
    id          UUID NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    before      TEXT,
    after       TEXT,
    request_id  TEXT,
    trace_id    TEXT,
    prev_hash   BYTEA NOT NULL,
    hash        BYTEA NOT NULL
);
-- No index besides `seq`: the chain is appended on every audited write (the hottest is
-- every security verdict) and read rarely, by an operator; filtered lists scan in `seq`
-- order, and each secondary index would cost every write a B-tree insert.

-- What was done about a verdict: the verdict itself, or `allow` for a rules' deny or
-- escalate in shadow mode (`security.mode: shadow`). Rows from before say NULL: enforced.
ALTER TABLE security_evaluations ADD COLUMN action TEXT;
