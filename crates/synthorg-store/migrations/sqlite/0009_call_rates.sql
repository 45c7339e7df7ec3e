-- synthorg schema, version 9: per-agent call rates of the model gateway (SPEC §17).
--
-- One row per agent and minute (counted from the epoch): the calls admitted in it, and the
-- tokens the calls that settled in it used. An admission under a rate reads the agent's
-- current and previous minute (the sliding window), counts itself, and deletes the agent's
-- older rows, so the table holds a few rows per agent that called lately. Nothing here is
-- history: `store migrate` does not copy it, and a lost row only lets an agent call sooner.
CREATE TABLE agent_minutes (
    agent_id TEXT NOT NULL,
    minute   INTEGER NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    tokens   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (agent_id, minute)
) WITHOUT ROWID;
