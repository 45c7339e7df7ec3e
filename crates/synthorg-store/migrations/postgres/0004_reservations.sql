-- synthorg schema for PostgreSQL, version 4: budget reservations, and tokens in the daily
-- cost summary (see the SQLite schema's version 4).
--
-- Admission is serialised across replicas by a transaction-scoped advisory lock (see
-- `postgres::budget`), not by these tables' row locks: a hold must see every hold granted
-- before it, including ones on rows it would never lock.
CREATE TABLE budget_reservations (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             UUID NOT NULL UNIQUE,
    agent_id       UUID NOT NULL REFERENCES agents (id),
    task_id        UUID REFERENCES tasks (id),
    amount_nanos   BIGINT NOT NULL CHECK (amount_nanos >= 0),
    tokens         BIGINT NOT NULL CHECK (tokens >= 0),
    provider       TEXT,
    model          TEXT,
    state          TEXT NOT NULL,
    created_at     TIMESTAMPTZ NOT NULL,
    expires_at     TIMESTAMPTZ NOT NULL,
    closed_at      TIMESTAMPTZ,
    cost_record_id UUID,
    settled_nanos  BIGINT
);
CREATE INDEX budget_reservations_open ON budget_reservations (expires_at) WHERE state = 'open';

ALTER TABLE cost_records ADD COLUMN reservation_id UUID;

ALTER TABLE cost_daily ADD COLUMN tokens BIGINT NOT NULL DEFAULT 0;
UPDATE cost_daily d SET tokens = s.tokens
FROM (
    SELECT floor(extract(epoch FROM occurred_at) / 86400)::bigint AS day, agent_id,
           SUM(input_tokens + output_tokens)::bigint AS tokens
    FROM cost_records GROUP BY 1, 2
) s
WHERE d.day = s.day AND d.agent_id = s.agent_id;

CREATE OR REPLACE FUNCTION cost_records_totals() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO cost_daily (day, agent_id, nanos, tokens)
        VALUES (floor(extract(epoch FROM NEW.occurred_at) / 86400)::bigint, NEW.agent_id, NEW.cost_nanos,
                NEW.input_tokens + NEW.output_tokens)
        ON CONFLICT (day, agent_id) DO UPDATE
            SET nanos = cost_daily.nanos + excluded.nanos, tokens = cost_daily.tokens + excluded.tokens;
    INSERT INTO agent_cost_totals (agent_id, nanos) VALUES (NEW.agent_id, NEW.cost_nanos)
        ON CONFLICT (agent_id) DO UPDATE SET nanos = agent_cost_totals.nanos + excluded.nanos;
    IF NEW.task_id IS NOT NULL THEN
        INSERT INTO task_cost_totals (task_id, nanos) VALUES (NEW.task_id, NEW.cost_nanos)
            ON CONFLICT (task_id) DO UPDATE SET nanos = task_cost_totals.nanos + excluded.nanos;
    END IF;
    RETURN NULL;
END $$;
