-- synthorg schema for PostgreSQL, version 8: costs of calls through the model gateway
-- (see the SQLite schema's version 8).
ALTER TABLE model_usage
    ADD COLUMN metered BIGINT NOT NULL DEFAULT 0,
    ADD COLUMN estimated BIGINT NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION cost_records_model_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO model_usage (provider, model, shard, first_seq, cost_nanos, input_tokens, output_tokens,
                             cache_read_input, cache_write_input, reasoning_output,
                             reported, computed, unpriced, disagreements, metered, estimated)
    VALUES (
        NEW.provider, NEW.model, counter_shard(NEW.id), NEW.seq, NEW.cost_nanos, NEW.input_tokens,
        NEW.output_tokens, NEW.cache_read_input_tokens, NEW.cache_write_input_tokens, NEW.reasoning_output_tokens,
        (NEW.cost_source = 'reported')::int, (NEW.cost_source = 'computed')::int, (NEW.cost_source = 'unpriced')::int,
        NEW.cost_disagrees::int, (NEW.cost_source = 'metered')::int, (NEW.cost_source = 'estimated')::int)
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
        disagreements = model_usage.disagreements + excluded.disagreements,
        metered = model_usage.metered + excluded.metered,
        estimated = model_usage.estimated + excluded.estimated;
    RETURN NULL;
END $$;
