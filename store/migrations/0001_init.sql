-- Keys of work already taken (event ids, envelope ids), so a redelivery is
-- not run twice. expires_at is unix milliseconds, UTC.
CREATE TABLE seen_keys (
	key        TEXT PRIMARY KEY,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;

-- PurgeExpired and the expiry test in MarkSeen range over expires_at.
CREATE INDEX seen_keys_expires_at ON seen_keys (expires_at);

-- One row, rewritten by Writable to prove the database takes writes.
-- checked_at is unix milliseconds, UTC.
CREATE TABLE health (
	id         INTEGER PRIMARY KEY CHECK (id = 1),
	checked_at INTEGER NOT NULL
);
