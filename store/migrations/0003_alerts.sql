-- Alert routing. Times are unix milliseconds, UTC.

-- A channel's wish to hear about new issues: of the projects listed (a JSON
-- array of slugs, sorted; [] means every project) matching a Sentry search
-- query ('' means every issue). The same channel, projects and query make
-- the same subscription.
CREATE TABLE subscriptions (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	team_id    TEXT NOT NULL DEFAULT '',
	channel_id TEXT NOT NULL CHECK (channel_id <> ''),
	projects   TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(projects)),
	query      TEXT NOT NULL DEFAULT '',
	created_by TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	UNIQUE (channel_id, projects, query)
);

-- Issue cards sentrybot put in Slack, so that a change to the issue can
-- update every one of them. A message card has unfurl_url ''; an unfurl is
-- keyed by the link it was attached to. alert = 1 marks a top-level alert
-- message, which later alerts for the issue in that channel reply to.
-- footer is the card's context line, kept when the card is redrawn.
CREATE TABLE cards (
	channel_id TEXT NOT NULL CHECK (channel_id <> ''),
	ts         TEXT NOT NULL CHECK (ts <> ''),
	unfurl_url TEXT NOT NULL DEFAULT '',
	issue_id   TEXT NOT NULL CHECK (issue_id <> ''),
	kind       TEXT NOT NULL CHECK (kind IN ('unfurl', 'message')),
	alert      INTEGER NOT NULL DEFAULT 0 CHECK (alert IN (0, 1)),
	footer     TEXT NOT NULL DEFAULT '',
	posted_at  INTEGER NOT NULL,
	PRIMARY KEY (channel_id, ts, unfurl_url),
	CHECK ((kind = 'unfurl') = (unfurl_url <> ''))
) WITHOUT ROWID;

CREATE INDEX cards_issue ON cards (issue_id, posted_at);
CREATE INDEX cards_posted_at ON cards (posted_at);

-- Work received and not yet routed: alerts (job 'alert') and issue changes
-- to show on cards (job 'sync'). delivery_id is NULL when the source gave
-- none; otherwise a redelivery is refused. payload is JSON owned by the
-- alerts package. A pending item is due at next_at.
CREATE TABLE alert_inbox (
	id          INTEGER PRIMARY KEY AUTOINCREMENT,
	delivery_id TEXT UNIQUE CHECK (delivery_id IS NULL OR delivery_id <> ''),
	job         TEXT NOT NULL CHECK (job IN ('alert', 'sync')),
	payload     TEXT NOT NULL,
	state       TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
	attempts    INTEGER NOT NULL DEFAULT 0,
	next_at     INTEGER NOT NULL,
	error       TEXT NOT NULL DEFAULT '',
	created_at  INTEGER NOT NULL,
	updated_at  INTEGER NOT NULL
);

CREATE INDEX alert_inbox_due ON alert_inbox (next_at) WHERE state = 'pending';
CREATE INDEX alert_inbox_updated_at ON alert_inbox (updated_at) WHERE state <> 'pending';

-- Messages to post, one row per alert and channel. key makes routing the
-- same alert twice harmless. channel_id is what the route named (an id or
-- a #name). issue is the issue as last known (JSON), refreshed when the
-- issue changes before the message goes out; payload is JSON owned by the
-- alerts package. posted_ts is the message that carried it ('' for none).
CREATE TABLE alert_outbox (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	key        TEXT NOT NULL UNIQUE CHECK (key <> ''),
	channel_id TEXT NOT NULL CHECK (channel_id <> ''),
	issue_id   TEXT NOT NULL CHECK (issue_id <> ''),
	issue      TEXT NOT NULL,
	payload    TEXT NOT NULL DEFAULT '{}',
	state      TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed', 'dropped')),
	attempts   INTEGER NOT NULL DEFAULT 0,
	next_at    INTEGER NOT NULL,
	error      TEXT NOT NULL DEFAULT '',
	posted_ts  TEXT NOT NULL DEFAULT '',
	created_at INTEGER NOT NULL,
	updated_at INTEGER NOT NULL
);

CREATE INDEX alert_outbox_due ON alert_outbox (next_at) WHERE state = 'pending';
CREATE INDEX alert_outbox_issue ON alert_outbox (issue_id) WHERE state = 'pending';
CREATE INDEX alert_outbox_updated_at ON alert_outbox (updated_at) WHERE state <> 'pending';

-- Channel ids Slack answered for channels that alert rules name by name
-- (#general), so that posts, threads and cards use the id across restarts.
CREATE TABLE slack_channel_names (
	name       TEXT PRIMARY KEY CHECK (name <> ''),
	channel_id TEXT NOT NULL CHECK (channel_id <> ''),
	updated_at INTEGER NOT NULL
) WITHOUT ROWID;
