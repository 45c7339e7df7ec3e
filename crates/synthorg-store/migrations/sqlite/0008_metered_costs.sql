-- synthorg schema, version 8: costs of calls through the model gateway (SPEC §17).
--
-- A record's `cost_source` may now also be `metered` (priced from the provider's own usage)
-- or `estimated` (a stream that ended without it, priced from the gateway's count). The
-- per-model totals count them beside the other sources.
ALTER TABLE model_usage ADD COLUMN metered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE model_usage ADD COLUMN estimated INTEGER NOT NULL DEFAULT 0;

DROP TRIGGER cost_records_model_usage;
CREATE TRIGGER cost_records_model_usage AFTER INSERT ON cost_records BEGIN
    INSERT INTO model_usage (provider, model, first_seq, cost_nanos, input_tokens, output_tokens,
                             cache_read_input, cache_write_input, reasoning_output,
                             reported, computed, unpriced, disagreements, metered, estimated)
    VALUES (
        NEW.provider, NEW.model, NEW.seq, NEW.cost_nanos, NEW.input_tokens, NEW.output_tokens,
        NEW.cache_read_input_tokens, NEW.cache_write_input_tokens, NEW.reasoning_output_tokens,
        NEW.cost_source = 'reported', NEW.cost_source = 'computed', NEW.cost_source = 'unpriced', NEW.cost_disagrees,
        NEW.cost_source = 'metered', NEW.cost_source = 'estimated')
    ON CONFLICT (provider, model) DO UPDATE SET
        cost_nanos = cost_nanos + excluded.cost_nanos,
        input_tokens = input_tokens + excluded.input_tokens,
        output_tokens = output_tokens + excluded.output_tokens,
        cache_read_input = cache_read_input + excluded.cache_read_input,
        cache_write_input = cache_write_input + excluded.cache_write_input,
        reasoning_output = reasoning_output + excluded.reasoning_output,
        reported = reported + excluded.reported,
        computed = computed + excluded.computed,
        unpriced = unpriced + excluded.unpriced,
        disagreements = disagreements + excluded.disagreements,
        metered = metered + excluded.metered,
        estimated = estimated + excluded.estimated;
END;
