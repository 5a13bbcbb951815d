-- Progress of the poller, per subscription. Subscriptions live elsewhere;
-- rows are keyed by their id and removed by PrunePoll when a subscription
-- goes away. Times are unix milliseconds, UTC.
--
-- watermark_ms: the newest first-seen time among the issues recorded; a
--   poll pages back only until it reaches issues older than this.
-- floor_ms: when the first poll stopped at its page limit before the end
--   of the results, the first-seen time of the oldest issue it recorded;
--   older issues existed before the subscription and are never posted.
--   0 when the first poll saw every match.
-- initialized: 1 once the first poll recorded what already matched.
CREATE TABLE poll_state (
	subscription_id INTEGER PRIMARY KEY,
	watermark_ms    INTEGER NOT NULL DEFAULT 0,
	floor_ms        INTEGER NOT NULL DEFAULT 0,
	initialized     INTEGER NOT NULL DEFAULT 0 CHECK (initialized IN (0, 1)),
	updated_at      INTEGER NOT NULL
);

-- Issues a subscription's poll has recorded, with the state they had when
-- last looked at, so a change of status, substatus or assignee is noticed
-- once. assignee is "user:<id>", "team:<id>" or "" for nobody.
CREATE TABLE poll_seen (
	subscription_id INTEGER NOT NULL REFERENCES poll_state (subscription_id) ON DELETE CASCADE,
	issue_id        TEXT NOT NULL CHECK (issue_id <> ''),
	status          TEXT NOT NULL DEFAULT '',
	substatus       TEXT NOT NULL DEFAULT '',
	assignee        TEXT NOT NULL DEFAULT '',
	seen_at         INTEGER NOT NULL,
	PRIMARY KEY (subscription_id, issue_id)
) WITHOUT ROWID;
