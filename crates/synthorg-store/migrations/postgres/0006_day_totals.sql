-- synthorg schema, version 6: spend per UTC day, and the daily summary by agent.
--
-- A budget admission (every reservation) and the `X-Budget-*` answer of every cost report
-- read the billing period's spend and the agent's spend today. Summed from `cost_daily` (one
-- row per day and agent) they cost what the organization has: at 1,000 agents late in a
-- month, 31,000 rows per admission. `cost_day_totals` keeps a row per day and shard — 16
-- shards, chosen by the record's id like the other hot counters, so concurrent reports do
-- not queue on one row — and a period sums at most 31 × 16 rows. The index finds one agent's
-- days without reading the other agents'; it is written once per agent and day (the totals
-- change, not the key).
CREATE TABLE cost_day_totals (
    day   BIGINT NOT NULL,  -- days since the Unix epoch, UTC, of occurred_at
    shard SMALLINT NOT NULL,
    nanos BIGINT NOT NULL,
    PRIMARY KEY (day, shard)
);
INSERT INTO cost_day_totals (day, shard, nanos) SELECT day, 0, SUM(nanos)::BIGINT FROM cost_daily GROUP BY day;

CREATE INDEX cost_daily_agent ON cost_daily (agent_id, day);

CREATE OR REPLACE FUNCTION cost_records_totals() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    d BIGINT := floor(extract(epoch FROM NEW.occurred_at) / 86400)::bigint;
BEGIN
    INSERT INTO cost_daily (day, agent_id, nanos, tokens)
        VALUES (d, NEW.agent_id, NEW.cost_nanos, NEW.input_tokens + NEW.output_tokens)
        ON CONFLICT (day, agent_id) DO UPDATE
            SET nanos = cost_daily.nanos + excluded.nanos, tokens = cost_daily.tokens + excluded.tokens;
    INSERT INTO cost_day_totals (day, shard, nanos) VALUES (d, counter_shard(NEW.id), NEW.cost_nanos)
        ON CONFLICT (day, shard) DO UPDATE SET nanos = cost_day_totals.nanos + excluded.nanos;
    INSERT INTO agent_cost_totals (agent_id, nanos) VALUES (NEW.agent_id, NEW.cost_nanos)
        ON CONFLICT (agent_id) DO UPDATE SET nanos = agent_cost_totals.nanos + excluded.nanos;
    IF NEW.task_id IS NOT NULL THEN
        INSERT INTO task_cost_totals (task_id, nanos) VALUES (NEW.task_id, NEW.cost_nanos)
            ON CONFLICT (task_id) DO UPDATE SET nanos = task_cost_totals.nanos + excluded.nanos;
    END IF;
    RETURN NULL;
END $$;
