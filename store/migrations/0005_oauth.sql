-- Per-user Sentry logins (OAuth). Times are unix milliseconds, UTC. Secret
-- values are never stored in the clear: grants and states as their SHA-256,
-- the PKCE verifier and the tokens sealed (AES-GCM) by the application.

-- A sign-in in progress. The grant value is handed to one Slack user and
-- opens /oauth/start once (started_at); that visit records the state sent
-- to Sentry and the sealed PKCE verifier, and moves expires_at to when the
-- state runs out. The state comes back to /oauth/callback once (used_at).
CREATE TABLE oauth_grants (
	grant_hash      BLOB PRIMARY KEY CHECK (length(grant_hash) = 32),
	team_id         TEXT NOT NULL CHECK (team_id <> ''),
	user_id         TEXT NOT NULL CHECK (user_id <> ''),
	channel_id      TEXT NOT NULL DEFAULT '',
	created_at      INTEGER NOT NULL,
	expires_at      INTEGER NOT NULL,
	started_at      INTEGER,
	state_hash      BLOB UNIQUE CHECK (state_hash IS NULL OR length(state_hash) = 32),
	verifier_sealed BLOB,
	used_at         INTEGER,
	CHECK ((started_at IS NULL) = (state_hash IS NULL)),
	CHECK (used_at IS NULL OR started_at IS NOT NULL)
) WITHOUT ROWID;

-- DeleteOAuth removes a user's grants; PurgeOAuthGrants ranges over expiry.
CREATE INDEX oauth_grants_user ON oauth_grants (team_id, user_id);
CREATE INDEX oauth_grants_expires_at ON oauth_grants (expires_at);

-- A Slack user's Sentry tokens. stale = 1 once a refresh was refused (the
-- grant was revoked or expired): the user must sign in again, and nothing
-- acts with these tokens until then.
CREATE TABLE oauth_tokens (
	team_id        TEXT NOT NULL CHECK (team_id <> ''),
	user_id        TEXT NOT NULL CHECK (user_id <> ''),
	sentry_user_id TEXT NOT NULL CHECK (sentry_user_id <> ''),
	access_sealed  BLOB NOT NULL,
	refresh_sealed BLOB NOT NULL,
	expires_at     INTEGER NOT NULL,
	scopes         TEXT NOT NULL DEFAULT '',
	stale          INTEGER NOT NULL DEFAULT 0 CHECK (stale IN (0, 1)),
	created_at     INTEGER NOT NULL,
	updated_at     INTEGER NOT NULL,
	PRIMARY KEY (team_id, user_id)
) WITHOUT ROWID;
