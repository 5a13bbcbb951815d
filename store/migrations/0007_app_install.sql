-- The installation of sentrybot's Sentry public integration (a Sentry App)
-- in the configured organization, with the 8-hour token it acts with and the
-- refresh token that renews it. The tokens are sealed (AES-GCM) by the
-- application, never stored in the clear. Times are unix milliseconds, UTC.
--
-- slot is always 1: sentrybot serves one organization, so there is at most
-- one installation, and a new one replaces the last.
CREATE TABLE app_installation (
	slot           INTEGER PRIMARY KEY CHECK (slot = 1),
	uuid           TEXT NOT NULL CHECK (uuid <> ''),
	org            TEXT NOT NULL CHECK (org <> ''),
	token_sealed   BLOB NOT NULL CHECK (length(token_sealed) > 0),
	refresh_sealed BLOB NOT NULL CHECK (length(refresh_sealed) > 0),
	expires_at     INTEGER NOT NULL,
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL
);
