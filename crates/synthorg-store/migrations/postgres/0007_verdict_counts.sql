-- synthorg schema, version 7: security verdicts counted by verdict.
--
-- The console's overview shows the organization's verdicts by verdict; counting
-- `security_evaluations` (the fastest-growing table) would read every row at each refresh.
-- Like the other hot counters, the count is kept per verdict and shard (16 shards, chosen by
-- the evaluation's id) by a trigger in the transaction of the row, and read as a sum.
CREATE TABLE verdict_counts (
    verdict TEXT NOT NULL,
    shard   SMALLINT NOT NULL,
    n       BIGINT NOT NULL,
    PRIMARY KEY (verdict, shard)
);
INSERT INTO verdict_counts (verdict, shard, n)
    SELECT verdict, 0, COUNT(*) FROM security_evaluations GROUP BY verdict;

CREATE FUNCTION security_evaluations_count() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO verdict_counts (verdict, shard, n) VALUES (NEW.verdict, counter_shard(NEW.id), 1)
        ON CONFLICT (verdict, shard) DO UPDATE SET n = verdict_counts.n + 1;
    RETURN NULL;
END $$;
CREATE TRIGGER security_evaluations_count AFTER INSERT ON security_evaluations
    FOR EACH ROW EXECUTE FUNCTION security_evaluations_count();
