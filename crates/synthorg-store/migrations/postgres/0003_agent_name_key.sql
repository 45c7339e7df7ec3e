-- synthorg schema, version 3: agent names are unique regardless of case and width.
--
-- `name_key` is the name in its canonical spelling (Unicode NFKC, lowercased, trimmed),
-- computed by synthorg: this migration adds the column, and the store fills it for existing
-- agents when it opens (an existing agent whose key another already holds keeps NULL and is
-- named in a warning; new names are checked against every key).
ALTER TABLE agents ADD COLUMN name_key TEXT;
CREATE UNIQUE INDEX agents_name_key ON agents (name_key);
