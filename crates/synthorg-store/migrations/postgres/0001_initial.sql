-- synthorg schema for PostgreSQL, version 1: the same entities and aggregates as the SQLite
-- schema, in PostgreSQL's own types.
--
-- Every list is ordered by `seq`, an identity column, which doubles as the pagination cursor.
-- Ids are UUID, instants TIMESTAMPTZ (microseconds, as the store keeps them), amounts BIGINT
-- nanodollars, so SUM() is exact.
--
-- The *_counts and *_totals tables are maintained by triggers in the same transaction as the
-- rows they summarise, so the metrics read them in time proportional to the number of series.
-- Several replicas write at once here, so the summaries avoid rows that every write would
-- lock until its commit:
--   * there is no single "total cost" row: the ledger total is the sum of agent_cost_totals
--     (one row per agent, a series the metrics expose anyway);
--   * counters that many writers share (tasks per status, transitions per pair) are split
--     over 16 shards chosen by the task id, and read as SUM(n) GROUP BY the series.

CREATE TABLE agents (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            UUID NOT NULL UNIQUE,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL,
    department    TEXT NOT NULL,
    status        TEXT NOT NULL,
    trust_level   TEXT NOT NULL,
    allowed_tools JSONB NOT NULL,
    denied_tools  JSONB NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    updated_at    TIMESTAMPTZ NOT NULL,
    CONSTRAINT agents_name_unique UNIQUE (name)
);
CREATE INDEX agents_status ON agents (status, seq);

CREATE TABLE agent_events (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    agent_id   UUID NOT NULL REFERENCES agents (id),
    field      TEXT NOT NULL,
    from_value TEXT NOT NULL,
    to_value   TEXT NOT NULL,
    by_actor   TEXT NOT NULL,
    at         TIMESTAMPTZ NOT NULL
);
CREATE INDEX agent_events_agent ON agent_events (agent_id, seq);

CREATE TABLE agent_counts (
    status      TEXT NOT NULL,
    trust_level TEXT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (status, trust_level)
);

CREATE FUNCTION agents_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE agent_counts SET n = n - 1 WHERE status = OLD.status AND trust_level = OLD.trust_level;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO agent_counts (status, trust_level, n) VALUES (NEW.status, NEW.trust_level, 1)
            ON CONFLICT (status, trust_level) DO UPDATE SET n = agent_counts.n + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER agents_count_insert_delete AFTER INSERT OR DELETE ON agents
    FOR EACH ROW EXECUTE FUNCTION agents_count();
CREATE TRIGGER agents_count_update AFTER UPDATE OF status, trust_level ON agents
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.trust_level IS DISTINCT FROM NEW.trust_level)
    EXECUTE FUNCTION agents_count();

CREATE TABLE tasks (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          UUID NOT NULL UNIQUE,
    title       TEXT NOT NULL,
    description TEXT NOT NULL,
    status      TEXT NOT NULL,
    assigned_to UUID REFERENCES agents (id),
    created_by  TEXT NOT NULL,
    parent_id   UUID REFERENCES tasks (id),
    version     BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX tasks_status ON tasks (status, seq);
CREATE INDEX tasks_assignee ON tasks (assigned_to, status, seq);
CREATE INDEX tasks_parent ON tasks (parent_id, seq);

CREATE TABLE task_transitions (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id     UUID NOT NULL REFERENCES tasks (id),
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    assigned_to UUID,
    by_actor    TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    reason      TEXT,
    version     BIGINT NOT NULL
);
CREATE INDEX task_transitions_task ON task_transitions (task_id, seq);

-- The shard of a task's counters: 16 rows share the load of one hot series.
CREATE FUNCTION counter_shard(id UUID) RETURNS SMALLINT LANGUAGE sql IMMUTABLE AS $$
    SELECT (hashtext(id::text) & 15)::smallint
$$;

-- Unassigned tasks count under assignee NULL's stand-in, the nil UUID.
CREATE TABLE task_counts (
    status   TEXT NOT NULL,
    assignee UUID NOT NULL,
    shard    SMALLINT NOT NULL,
    n        BIGINT NOT NULL,
    PRIMARY KEY (status, assignee, shard)
);

CREATE FUNCTION tasks_count() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    nil CONSTANT UUID := '00000000-0000-0000-0000-000000000000';
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
        UPDATE task_counts SET n = n - 1
            WHERE status = OLD.status AND assignee = COALESCE(OLD.assigned_to, nil) AND shard = counter_shard(OLD.id);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO task_counts (status, assignee, shard, n)
            VALUES (NEW.status, COALESCE(NEW.assigned_to, nil), counter_shard(NEW.id), 1)
            ON CONFLICT (status, assignee, shard) DO UPDATE SET n = task_counts.n + 1;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER tasks_count_insert_delete AFTER INSERT OR DELETE ON tasks
    FOR EACH ROW EXECUTE FUNCTION tasks_count();
CREATE TRIGGER tasks_count_update AFTER UPDATE OF status, assigned_to ON tasks
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.assigned_to IS DISTINCT FROM NEW.assigned_to)
    EXECUTE FUNCTION tasks_count();

CREATE TABLE transition_counts (
    from_status TEXT NOT NULL,
    to_status   TEXT NOT NULL,
    shard       SMALLINT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (from_status, to_status, shard)
);

CREATE FUNCTION task_transitions_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO transition_counts (from_status, to_status, shard, n)
        VALUES (NEW.from_status, NEW.to_status, counter_shard(NEW.task_id), 1)
        ON CONFLICT (from_status, to_status, shard) DO UPDATE SET n = transition_counts.n + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER task_transitions_count AFTER INSERT ON task_transitions
    FOR EACH ROW EXECUTE FUNCTION task_transitions_count();

CREATE TABLE cost_records (
    seq             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id              UUID NOT NULL UNIQUE,
    agent_id        UUID NOT NULL REFERENCES agents (id),
    task_id         UUID REFERENCES tasks (id),
    provider        TEXT NOT NULL,
    model           TEXT NOT NULL,
    input_tokens    BIGINT NOT NULL,
    output_tokens   BIGINT NOT NULL,
    cost_nanos      BIGINT NOT NULL CHECK (cost_nanos >= 0),
    call_category   TEXT NOT NULL,
    occurred_at     TIMESTAMPTZ NOT NULL,
    recorded_at     TIMESTAMPTZ NOT NULL,
    idempotency_key TEXT,
    CONSTRAINT cost_records_idempotency_key UNIQUE (idempotency_key)
);
CREATE INDEX cost_records_agent ON cost_records (agent_id, seq);
CREATE INDEX cost_records_task ON cost_records (task_id, seq);
CREATE INDEX cost_records_occurred ON cost_records (occurred_at);

-- Running totals: per UTC day and agent, per agent, per task.
CREATE TABLE cost_daily (
    day      BIGINT NOT NULL,  -- days since the Unix epoch, UTC, of occurred_at
    agent_id UUID NOT NULL,
    nanos    BIGINT NOT NULL,
    PRIMARY KEY (day, agent_id)
);

CREATE TABLE agent_cost_totals (
    agent_id UUID PRIMARY KEY,
    nanos    BIGINT NOT NULL
);

CREATE TABLE task_cost_totals (
    task_id UUID PRIMARY KEY,
    nanos   BIGINT NOT NULL
);

CREATE FUNCTION cost_records_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cost_daily (day, agent_id, nanos)
        VALUES (floor(extract(epoch FROM NEW.occurred_at) / 86400)::bigint, NEW.agent_id, NEW.cost_nanos)
        ON CONFLICT (day, agent_id) DO UPDATE SET nanos = cost_daily.nanos + excluded.nanos;
    INSERT INTO agent_cost_totals (agent_id, nanos) VALUES (NEW.agent_id, NEW.cost_nanos)
        ON CONFLICT (agent_id) DO UPDATE SET nanos = agent_cost_totals.nanos + excluded.nanos;
    IF NEW.task_id IS NOT NULL THEN
        INSERT INTO task_cost_totals (task_id, nanos) VALUES (NEW.task_id, NEW.cost_nanos)
            ON CONFLICT (task_id) DO UPDATE SET nanos = task_cost_totals.nanos + excluded.nanos;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER cost_records_totals AFTER INSERT ON cost_records
    FOR EACH ROW EXECUTE FUNCTION cost_records_totals();

CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value JSONB NOT NULL
);

CREATE TABLE coordination_runs (
    seq              BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id               UUID NOT NULL UNIQUE,
    task_id          UUID REFERENCES tasks (id),
    agents           JSONB NOT NULL,  -- array of agent ids
    topology         TEXT NOT NULL,
    turns_mas        DOUBLE PRECISION NOT NULL,
    turns_sas        DOUBLE PRECISION NOT NULL,
    success_rate     DOUBLE PRECISION NOT NULL,
    efficiency       DOUBLE PRECISION NOT NULL,
    overhead_percent DOUBLE PRECISION NOT NULL,
    created_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX coordination_runs_task ON coordination_runs (task_id, seq);

CREATE TABLE security_evaluations (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            UUID NOT NULL UNIQUE,
    agent_id      UUID NOT NULL REFERENCES agents (id),
    task_id       UUID,
    tool          TEXT NOT NULL,
    action_type   TEXT NOT NULL,
    verdict       TEXT NOT NULL,
    risk_level    TEXT NOT NULL,
    reason        TEXT NOT NULL,
    matched_rules JSONB NOT NULL,
    approval_id   UUID,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE INDEX security_evaluations_agent ON security_evaluations (agent_id, seq);
CREATE INDEX security_evaluations_verdict ON security_evaluations (verdict, seq);

CREATE TABLE approvals (
    seq           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id            UUID NOT NULL UNIQUE,
    evaluation_id UUID NOT NULL,
    agent_id      UUID NOT NULL REFERENCES agents (id),
    task_id       UUID,
    tool          TEXT NOT NULL,
    action_type   TEXT NOT NULL,
    arguments     JSONB NOT NULL,  -- secret-named fields redacted
    reason        TEXT NOT NULL,
    risk_level    TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    decided_at    TIMESTAMPTZ,
    decided_by    TEXT,
    decision_note TEXT
);
CREATE INDEX approvals_status ON approvals (status, seq);
CREATE INDEX approvals_agent ON approvals (agent_id, seq);

CREATE TABLE api_keys (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id          TEXT NOT NULL UNIQUE,
    secret_hash BYTEA NOT NULL,  -- SHA-256 of the secret part of the key
    role        TEXT NOT NULL,
    agent_id    UUID REFERENCES agents (id),
    label       TEXT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    revoked_at  TIMESTAMPTZ
);
