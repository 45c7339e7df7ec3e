-- synthorg schema for PostgreSQL, version 9: per-agent call rates of the model gateway (see
-- the SQLite schema's version 9). Admissions read and write it under the budget's advisory
-- lock, so every replica counts every other's calls.
CREATE TABLE agent_minutes (
    agent_id UUID NOT NULL,
    minute   BIGINT NOT NULL,
    requests BIGINT NOT NULL DEFAULT 0,
    tokens   BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (agent_id, minute)
);
