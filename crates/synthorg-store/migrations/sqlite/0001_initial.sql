-- synthorg schema, version 1.
--
-- Every list is ordered by `seq`, an INTEGER PRIMARY KEY (the rowid), which doubles as the
-- pagination cursor. Ids are UUID text. Instants are INTEGER microseconds since the Unix
-- epoch (UTC). Amounts are INTEGER nanodollars, so SUM() is exact.
--
-- The *_counts and *_totals tables are maintained by triggers in the same transaction as the
-- rows they summarise: the metrics read them in time proportional to the number of series,
-- never to the number of tasks or cost records.

CREATE TABLE agents (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    name          TEXT NOT NULL UNIQUE,
    role          TEXT NOT NULL,
    department    TEXT NOT NULL,
    status        TEXT NOT NULL,
    trust_level   TEXT NOT NULL,
    allowed_tools TEXT NOT NULL,  -- JSON array
    denied_tools  TEXT NOT NULL,  -- JSON array
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);
CREATE INDEX agents_status ON agents (status, seq);

CREATE TABLE agent_events (
    seq        INTEGER PRIMARY KEY,
    agent_id   TEXT NOT NULL REFERENCES agents (id),
    field      TEXT NOT NULL,
    from_value TEXT NOT NULL,
    to_value   TEXT NOT NULL,
    by_actor   TEXT NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX agent_events_agent ON agent_events (agent_id, seq);

CREATE TABLE agent_counts (
    status      TEXT NOT NULL,
    trust_level TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (status, trust_level)
) WITHOUT ROWID;

CREATE TRIGGER agents_count_insert AFTER INSERT ON agents BEGIN
    INSERT INTO agent_counts (status, trust_level, n) VALUES (NEW.status, NEW.trust_level, 1)
        ON CONFLICT (status, trust_level) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER agents_count_update AFTER UPDATE OF status, trust_level ON agents
WHEN OLD.status IS NOT NEW.status OR OLD.trust_level IS NOT NEW.trust_level BEGIN
    UPDATE agent_counts SET n = n - 1 WHERE status = OLD.status AND trust_level = OLD.trust_level;
    INSERT INTO agent_counts (status, trust_level, n) VALUES (NEW.status, NEW.trust_level, 1)
        ON CONFLICT (status, trust_level) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER agents_count_delete AFTER DELETE ON agents BEGIN
    UPDATE agent_counts SET n = n - 1 WHERE status = OLD.status AND trust_level = OLD.trust_level;
END;

CREATE TABLE tasks (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    title       TEXT NOT NULL,
    description TEXT NOT NULL,
    status      TEXT NOT NULL,
    assigned_to TEXT REFERENCES agents (id),
    created_by  TEXT NOT NULL,
    parent_id   TEXT REFERENCES tasks (id),
    version     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);
CREATE INDEX tasks_status ON tasks (status, seq);
CREATE INDEX tasks_assignee ON tasks (assigned_to, status, seq);
CREATE INDEX tasks_parent ON tasks (parent_id, seq);

CREATE TABLE task_transitions (
    seq         INTEGER PRIMARY KEY,
    task_id     TEXT NOT NULL REFERENCES tasks (id),
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    assigned_to TEXT,
    by_actor    TEXT NOT NULL,
    at          INTEGER NOT NULL,
    reason      TEXT,
    version     INTEGER NOT NULL
);
CREATE INDEX task_transitions_task ON task_transitions (task_id, seq);

-- Unassigned tasks count under assignee ''.
CREATE TABLE task_counts (
    status   TEXT NOT NULL,
    assignee TEXT NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (status, assignee)
) WITHOUT ROWID;

CREATE TRIGGER tasks_count_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO task_counts (status, assignee, n) VALUES (NEW.status, COALESCE(NEW.assigned_to, ''), 1)
        ON CONFLICT (status, assignee) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER tasks_count_update AFTER UPDATE OF status, assigned_to ON tasks
WHEN OLD.status IS NOT NEW.status OR OLD.assigned_to IS NOT NEW.assigned_to BEGIN
    UPDATE task_counts SET n = n - 1 WHERE status = OLD.status AND assignee = COALESCE(OLD.assigned_to, '');
    INSERT INTO task_counts (status, assignee, n) VALUES (NEW.status, COALESCE(NEW.assigned_to, ''), 1)
        ON CONFLICT (status, assignee) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER tasks_count_delete AFTER DELETE ON tasks BEGIN
    UPDATE task_counts SET n = n - 1 WHERE status = OLD.status AND assignee = COALESCE(OLD.assigned_to, '');
END;

CREATE TABLE transition_counts (
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (from_status, to_status)
) WITHOUT ROWID;

CREATE TRIGGER task_transitions_count AFTER INSERT ON task_transitions BEGIN
    INSERT INTO transition_counts (from_status, to_status, n) VALUES (NEW.from_status, NEW.to_status, 1)
        ON CONFLICT (from_status, to_status) DO UPDATE SET n = n + 1;
END;

CREATE TABLE cost_records (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    agent_id        TEXT NOT NULL REFERENCES agents (id),
    task_id         TEXT REFERENCES tasks (id),
    provider        TEXT NOT NULL,
    model           TEXT NOT NULL,
    input_tokens    INTEGER NOT NULL,
    output_tokens   INTEGER NOT NULL,
    cost_nanos      INTEGER NOT NULL CHECK (cost_nanos >= 0),
    call_category   TEXT NOT NULL,
    occurred_at     INTEGER NOT NULL,
    recorded_at     INTEGER NOT NULL,
    idempotency_key TEXT UNIQUE
);
CREATE INDEX cost_records_agent ON cost_records (agent_id, seq);
CREATE INDEX cost_records_task ON cost_records (task_id, seq);
CREATE INDEX cost_records_occurred ON cost_records (occurred_at);

-- Running totals: the whole ledger, per UTC day and agent, per agent, per task.
CREATE TABLE cost_totals (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    nanos INTEGER NOT NULL
);
INSERT INTO cost_totals (id, nanos) VALUES (1, 0);

CREATE TABLE cost_daily (
    day      INTEGER NOT NULL,  -- days since the Unix epoch, UTC, of occurred_at
    agent_id TEXT NOT NULL,
    nanos    INTEGER NOT NULL,
    PRIMARY KEY (day, agent_id)
) WITHOUT ROWID;

CREATE TABLE agent_cost_totals (
    agent_id TEXT PRIMARY KEY,
    nanos    INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE task_cost_totals (
    task_id TEXT PRIMARY KEY,
    nanos   INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TRIGGER cost_records_totals AFTER INSERT ON cost_records BEGIN
    UPDATE cost_totals SET nanos = nanos + NEW.cost_nanos WHERE id = 1;
    INSERT INTO cost_daily (day, agent_id, nanos) VALUES (NEW.occurred_at / 86400000000, NEW.agent_id, NEW.cost_nanos)
        ON CONFLICT (day, agent_id) DO UPDATE SET nanos = nanos + excluded.nanos;
    INSERT INTO agent_cost_totals (agent_id, nanos) VALUES (NEW.agent_id, NEW.cost_nanos)
        ON CONFLICT (agent_id) DO UPDATE SET nanos = nanos + excluded.nanos;
    INSERT INTO task_cost_totals (task_id, nanos) SELECT NEW.task_id, NEW.cost_nanos WHERE NEW.task_id IS NOT NULL
        ON CONFLICT (task_id) DO UPDATE SET nanos = nanos + excluded.nanos;
END;

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL  -- JSON
) WITHOUT ROWID;

CREATE TABLE coordination_runs (
    seq              INTEGER PRIMARY KEY,
    id               TEXT NOT NULL UNIQUE,
    task_id          TEXT REFERENCES tasks (id),
    agents           TEXT NOT NULL,  -- JSON array of agent ids
    topology         TEXT NOT NULL,
    turns_mas        REAL NOT NULL,
    turns_sas        REAL NOT NULL,
    success_rate     REAL NOT NULL,
    efficiency       REAL NOT NULL,
    overhead_percent REAL NOT NULL,
    created_at       INTEGER NOT NULL
);
CREATE INDEX coordination_runs_task ON coordination_runs (task_id, seq);

CREATE TABLE security_evaluations (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    agent_id      TEXT NOT NULL REFERENCES agents (id),
    task_id       TEXT,
    tool          TEXT NOT NULL,
    action_type   TEXT NOT NULL,
    verdict       TEXT NOT NULL,
    risk_level    TEXT NOT NULL,
    reason        TEXT NOT NULL,
    matched_rules TEXT NOT NULL,  -- JSON array
    approval_id   TEXT,
    created_at    INTEGER NOT NULL
);
CREATE INDEX security_evaluations_agent ON security_evaluations (agent_id, seq);
CREATE INDEX security_evaluations_verdict ON security_evaluations (verdict, seq);

CREATE TABLE approvals (
    seq           INTEGER PRIMARY KEY,
    id            TEXT NOT NULL UNIQUE,
    evaluation_id TEXT NOT NULL,
    agent_id      TEXT NOT NULL REFERENCES agents (id),
    task_id       TEXT,
    tool          TEXT NOT NULL,
    action_type   TEXT NOT NULL,
    arguments     TEXT NOT NULL,  -- JSON, secret-named fields redacted
    reason        TEXT NOT NULL,
    risk_level    TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    decided_at    INTEGER,
    decided_by    TEXT,
    decision_note TEXT
);
CREATE INDEX approvals_status ON approvals (status, seq);
CREATE INDEX approvals_agent ON approvals (agent_id, seq);

CREATE TABLE api_keys (
    seq         INTEGER PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    secret_hash BLOB NOT NULL,  -- SHA-256 of the secret part of the key
    role        TEXT NOT NULL,
    agent_id    TEXT REFERENCES agents (id),
    label       TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);
