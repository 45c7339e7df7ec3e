-- synthorg schema for PostgreSQL, version 2: priced cost records (see the SQLite schema's
-- version 2 for the fields). Records written before this version were all reported.

ALTER TABLE cost_records
    ADD COLUMN cache_read_input_tokens BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN cache_write_input_tokens BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN reasoning_output_tokens BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN cost_source TEXT NOT NULL DEFAULT 'reported',
    ADD COLUMN computed_cost_nanos BIGINT CHECK (computed_cost_nanos >= 0),
    ADD COLUMN price_version TEXT,
    ADD COLUMN cost_disagrees BOOLEAN NOT NULL DEFAULT FALSE;

-- Running totals per (provider, model), split over 16 shards like the task counters: every
-- replica's calls to the same model would otherwise queue on one row. Read as SUM(...)
-- GROUP BY provider, model, ordered by the first record's seq.
CREATE TABLE model_usage (
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,
    shard             SMALLINT NOT NULL,
    first_seq         BIGINT NOT NULL,
    cost_nanos        BIGINT NOT NULL,
    input_tokens      BIGINT NOT NULL,
    output_tokens     BIGINT NOT NULL,
    cache_read_input  BIGINT NOT NULL,
    cache_write_input BIGINT NOT NULL,
    reasoning_output  BIGINT NOT NULL,
    reported          BIGINT NOT NULL,
    computed          BIGINT NOT NULL,
    unpriced          BIGINT NOT NULL,
    disagreements     BIGINT NOT NULL,
    PRIMARY KEY (provider, model, shard)
);

INSERT INTO model_usage
    SELECT provider, model, 0, MIN(seq), SUM(cost_nanos), SUM(input_tokens), SUM(output_tokens), 0, 0, 0, COUNT(*), 0, 0, 0
    FROM cost_records GROUP BY provider, model;

CREATE FUNCTION cost_records_model_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO model_usage VALUES (
        NEW.provider, NEW.model, counter_shard(NEW.id), NEW.seq, NEW.cost_nanos, NEW.input_tokens,
        NEW.output_tokens, NEW.cache_read_input_tokens, NEW.cache_write_input_tokens, NEW.reasoning_output_tokens,
        (NEW.cost_source = 'reported')::int, (NEW.cost_source = 'computed')::int, (NEW.cost_source = 'unpriced')::int,
        NEW.cost_disagrees::int)
    ON CONFLICT (provider, model, shard) DO UPDATE SET
        first_seq = LEAST(model_usage.first_seq, excluded.first_seq),
        cost_nanos = model_usage.cost_nanos + excluded.cost_nanos,
        input_tokens = model_usage.input_tokens + excluded.input_tokens,
        output_tokens = model_usage.output_tokens + excluded.output_tokens,
        cache_read_input = model_usage.cache_read_input + excluded.cache_read_input,
        cache_write_input = model_usage.cache_write_input + excluded.cache_write_input,
        reasoning_output = model_usage.reasoning_output + excluded.reasoning_output,
        reported = model_usage.reported + excluded.reported,
        computed = model_usage.computed + excluded.computed,
        unpriced = model_usage.unpriced + excluded.unpriced,
        disagreements = model_usage.disagreements + excluded.disagreements;
    RETURN NULL;
END $$;
CREATE TRIGGER cost_records_model_usage AFTER INSERT ON cost_records
    FOR EACH ROW EXECUTE FUNCTION cost_records_model_usage();

-- No index on (provider, model): filtering the ledger by them scans it in seq order until a
-- page is full, like call_category. An index cost every cost report about 5 % of the API's
-- write throughput (docs/performance.md); the per-model totals above answer the metrics.
