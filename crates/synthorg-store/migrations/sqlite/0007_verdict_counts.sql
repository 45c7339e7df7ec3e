-- synthorg schema, version 7: security verdicts counted by verdict.
--
-- The console's overview shows the organization's verdicts by verdict; counting
-- `security_evaluations` (the fastest-growing table) would read every row at each refresh.
-- Like the other summaries, the count is kept by a trigger in the transaction of the row.
CREATE TABLE verdict_counts (
    verdict TEXT PRIMARY KEY,
    n       INTEGER NOT NULL
);
INSERT INTO verdict_counts (verdict, n) SELECT verdict, COUNT(*) FROM security_evaluations GROUP BY verdict;

CREATE TRIGGER security_evaluations_count AFTER INSERT ON security_evaluations BEGIN
    INSERT INTO verdict_counts (verdict, n) VALUES (NEW.verdict, 1)
        ON CONFLICT (verdict) DO UPDATE SET n = n + 1;
END;
