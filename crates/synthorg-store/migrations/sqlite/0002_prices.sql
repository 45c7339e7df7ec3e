-- synthorg schema, version 2: priced cost records.
--
-- A cost record gains the token classes (parts of input_tokens / output_tokens), where its
-- cost comes from (reported by the client, computed from the price catalogue, or unpriced),
-- the computed figure and catalogue version, and whether a reported cost disagrees with the
-- computed one. Records written before this version were all reported by their clients.

ALTER TABLE cost_records ADD COLUMN cache_read_input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cost_records ADD COLUMN cache_write_input_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cost_records ADD COLUMN reasoning_output_tokens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE cost_records ADD COLUMN cost_source TEXT NOT NULL DEFAULT 'reported';
ALTER TABLE cost_records ADD COLUMN computed_cost_nanos INTEGER CHECK (computed_cost_nanos >= 0);
ALTER TABLE cost_records ADD COLUMN price_version TEXT;
ALTER TABLE cost_records ADD COLUMN cost_disagrees INTEGER NOT NULL DEFAULT 0;

-- Running totals per (provider, model): cost, tokens by class, reports by cost source and
-- disagreements. `first_seq` orders the series for the metrics' cardinality guard, so the
-- models seen first keep their own series.
CREATE TABLE model_usage (
    provider          TEXT NOT NULL,
    model             TEXT NOT NULL,
    first_seq         INTEGER NOT NULL,
    cost_nanos        INTEGER NOT NULL,
    input_tokens      INTEGER NOT NULL,
    output_tokens     INTEGER NOT NULL,
    cache_read_input  INTEGER NOT NULL,
    cache_write_input INTEGER NOT NULL,
    reasoning_output  INTEGER NOT NULL,
    reported          INTEGER NOT NULL,
    computed          INTEGER NOT NULL,
    unpriced          INTEGER NOT NULL,
    disagreements     INTEGER NOT NULL,
    PRIMARY KEY (provider, model)
) WITHOUT ROWID;

INSERT INTO model_usage
    SELECT provider, model, MIN(seq), SUM(cost_nanos), SUM(input_tokens), SUM(output_tokens), 0, 0, 0, COUNT(*), 0, 0, 0
    FROM cost_records GROUP BY provider, model;

CREATE TRIGGER cost_records_model_usage AFTER INSERT ON cost_records BEGIN
    INSERT INTO model_usage VALUES (
        NEW.provider, NEW.model, NEW.seq, NEW.cost_nanos, NEW.input_tokens, NEW.output_tokens,
        NEW.cache_read_input_tokens, NEW.cache_write_input_tokens, NEW.reasoning_output_tokens,
        NEW.cost_source = 'reported', NEW.cost_source = 'computed', NEW.cost_source = 'unpriced', NEW.cost_disagrees)
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
        disagreements = disagreements + excluded.disagreements;
END;

-- No index on (provider, model): filtering the ledger by them scans it in seq order until a
-- page is full, like call_category. An index cost every cost report about 5 % of the API's
-- write throughput (docs/performance.md); the per-model totals above answer the metrics.
