-- synthorg schema, version 6: spend per UTC day, and the daily summary by agent.
--
-- A budget admission (every reservation, on the writer) and the `X-Budget-*` answer of every
-- cost report read the billing period's spend and the agent's spend today. Summed from
-- `cost_daily` (one row per day and agent) they cost what the organization has — at 1,000
-- agents late in a month, 31,000 rows and about a millisecond per admission, holding the
-- writer. `cost_day_totals` keeps one row per day (a period sums at most 31), and the index
-- finds one agent's days without reading the other agents'. The index is written once per
-- agent and day (the totals change, not the key), so reports pay almost nothing for it.
CREATE TABLE cost_day_totals (
    day   INTEGER PRIMARY KEY,  -- days since the Unix epoch, UTC, of occurred_at
    nanos INTEGER NOT NULL
);
INSERT INTO cost_day_totals (day, nanos) SELECT day, SUM(nanos) FROM cost_daily GROUP BY day;

CREATE INDEX cost_daily_agent ON cost_daily (agent_id, day);

DROP TRIGGER cost_records_totals;
CREATE TRIGGER cost_records_totals AFTER INSERT ON cost_records BEGIN
    UPDATE cost_totals SET nanos = nanos + NEW.cost_nanos WHERE id = 1;
    INSERT INTO cost_daily (day, agent_id, nanos, tokens)
        VALUES (NEW.occurred_at / 86400000000, NEW.agent_id, NEW.cost_nanos, NEW.input_tokens + NEW.output_tokens)
        ON CONFLICT (day, agent_id) DO UPDATE SET nanos = nanos + excluded.nanos, tokens = tokens + excluded.tokens;
    INSERT INTO cost_day_totals (day, nanos) VALUES (NEW.occurred_at / 86400000000, NEW.cost_nanos)
        ON CONFLICT (day) DO UPDATE SET nanos = nanos + excluded.nanos;
    INSERT INTO agent_cost_totals (agent_id, nanos) VALUES (NEW.agent_id, NEW.cost_nanos)
        ON CONFLICT (agent_id) DO UPDATE SET nanos = nanos + excluded.nanos;
    INSERT INTO task_cost_totals (task_id, nanos) SELECT NEW.task_id, NEW.cost_nanos WHERE NEW.task_id IS NOT NULL
        ON CONFLICT (task_id) DO UPDATE SET nanos = nanos + excluded.nanos;
END;
