-- synthorg schema, version 4: budget reservations, and tokens in the daily cost summary
-- (for per_agent_daily_tokens).
--
-- A reservation holds money while `state = 'open'` and `expires_at` lies ahead. The one
-- partial index holds only open reservations, so summing holds and sweeping expired ones cost
-- what is open, never what was settled long ago. Nothing else is indexed but the id: every
-- index is pages written twice per hold (granted, then closed), and a reserve + settle pair
-- must stay within twice the cost of a plain report. Lists by agent or task scan.
CREATE TABLE budget_reservations (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    agent_id       TEXT NOT NULL REFERENCES agents (id),
    task_id        TEXT REFERENCES tasks (id),
    amount_nanos   INTEGER NOT NULL CHECK (amount_nanos >= 0),
    tokens         INTEGER NOT NULL CHECK (tokens >= 0),
    provider       TEXT,
    model          TEXT,
    state          TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    expires_at     INTEGER NOT NULL,
    closed_at      INTEGER,
    cost_record_id TEXT,
    settled_nanos  INTEGER
);
CREATE INDEX budget_reservations_open ON budget_reservations (expires_at) WHERE state = 'open';

ALTER TABLE cost_records ADD COLUMN reservation_id TEXT;

ALTER TABLE cost_daily ADD COLUMN tokens INTEGER NOT NULL DEFAULT 0;
UPDATE cost_daily SET tokens = (
    SELECT COALESCE(SUM(input_tokens + output_tokens), 0) FROM cost_records
    WHERE occurred_at / 86400000000 = cost_daily.day AND agent_id = cost_daily.agent_id
);

DROP TRIGGER cost_records_totals;
CREATE TRIGGER cost_records_totals AFTER INSERT ON cost_records BEGIN
    UPDATE cost_totals SET nanos = nanos + NEW.cost_nanos WHERE id = 1;
    INSERT INTO cost_daily (day, agent_id, nanos, tokens)
        VALUES (NEW.occurred_at / 86400000000, NEW.agent_id, NEW.cost_nanos, NEW.input_tokens + NEW.output_tokens)
        ON CONFLICT (day, agent_id) DO UPDATE SET nanos = nanos + excluded.nanos, tokens = tokens + excluded.tokens;
    INSERT INTO agent_cost_totals (agent_id, nanos) VALUES (NEW.agent_id, NEW.cost_nanos)
        ON CONFLICT (agent_id) DO UPDATE SET nanos = nanos + excluded.nanos;
    INSERT INTO task_cost_totals (task_id, nanos) SELECT NEW.task_id, NEW.cost_nanos WHERE NEW.task_id IS NOT NULL
        ON CONFLICT (task_id) DO UPDATE SET nanos = nanos + excluded.nanos;
END;
