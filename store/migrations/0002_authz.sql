-- Links between a Slack user and the Sentry organization member they are.
-- linked_at is unix milliseconds, UTC. A Sentry member is linked to at most
-- one Slack user per workspace, so actions taken in Slack name one person.
CREATE TABLE identities (
	team_id        TEXT NOT NULL,
	slack_user_id  TEXT NOT NULL,
	member_id      TEXT NOT NULL CHECK (member_id <> ''),
	sentry_user_id TEXT NOT NULL DEFAULT '',
	email          TEXT NOT NULL DEFAULT '',
	org_role       TEXT NOT NULL DEFAULT '',
	method         TEXT NOT NULL CHECK (method <> ''),
	linked_at      INTEGER NOT NULL,
	linked_by      TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (team_id, slack_user_id)
) WITHOUT ROWID;

CREATE UNIQUE INDEX identities_member ON identities (team_id, member_id);

-- IdentityBySentryUser looks links up from the Sentry side (webhooks name
-- users, not members).
CREATE INDEX identities_sentry_user ON identities (sentry_user_id) WHERE sentry_user_id <> '';

-- Roles set locally by a sentrybot admin; they win over the role derived
-- from the Sentry organization role. set_at is unix milliseconds, UTC.
CREATE TABLE role_overrides (
	team_id       TEXT NOT NULL,
	slack_user_id TEXT NOT NULL,
	role          TEXT NOT NULL CHECK (role IN ('viewer', 'responder', 'admin')),
	set_by        TEXT NOT NULL,
	set_at        INTEGER NOT NULL,
	PRIMARY KEY (team_id, slack_user_id)
) WITHOUT ROWID;

-- Every change attempted through sentrybot, allowed or denied. at is unix
-- milliseconds, UTC. AUTOINCREMENT keeps ids strictly increasing, so an id
-- is never reused and gaps are visible.
CREATE TABLE audit_log (
	id               INTEGER PRIMARY KEY AUTOINCREMENT CHECK (id > 0),
	at               INTEGER NOT NULL,
	team_id          TEXT NOT NULL DEFAULT '',
	user_id          TEXT NOT NULL DEFAULT '',
	channel_id       TEXT NOT NULL DEFAULT '',
	sentry_member_id TEXT NOT NULL DEFAULT '',
	action           TEXT NOT NULL CHECK (action <> ''),
	issue_id         TEXT NOT NULL DEFAULT '',
	decision         TEXT NOT NULL CHECK (decision IN ('allow', 'deny')),
	reason           TEXT NOT NULL DEFAULT '',
	outcome          TEXT NOT NULL DEFAULT '',
	detail           TEXT NOT NULL DEFAULT ''
);

CREATE INDEX audit_log_at ON audit_log (at);
CREATE INDEX audit_log_issue_id ON audit_log (issue_id);
CREATE INDEX audit_log_user_id ON audit_log (user_id);

-- The log is evidence: nothing the application runs may rewrite or remove
-- an entry.
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only');
END;

-- INSERT OR REPLACE removes the row it conflicts with without firing DELETE
-- triggers (recursive_triggers is off), so refuse an insert whose id is
-- taken. A new row's id is not known yet in a BEFORE trigger (it reads as
-- -1), which the CHECK above keeps out of the table.
CREATE TRIGGER audit_log_no_replace BEFORE INSERT ON audit_log
WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)
BEGIN
	SELECT RAISE(ABORT, 'audit log is append-only');
END;
