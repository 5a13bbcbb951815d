-- Socket Mode envelopes taken from Slack, recorded before they are
-- acknowledged, so work survives a process killed before it finished and a
-- redelivery is recognised. Times are unix milliseconds, UTC.
--
-- seq: arrival order; pending envelopes are replayed in it.
-- key: the unit of work ("event:<event_id>", "action:<team>:<user>:<action_id>:<action_ts>",
--   "envelope:<envelope_id>"); envelope_id: Slack's id of the envelope.
--   Either one already present, pending or not yet expired, marks a redelivery.
-- envelope: the raw Socket Mode message while pending; NULL once done, since
--   it carries response_urls and what users typed.
-- attempts: how many times the work was handed to a worker.
-- expires_at: when a done row may be purged; a pending row never expires.
-- done_at: NULL while the work is pending.
CREATE TABLE envelope_inbox (
	seq         INTEGER PRIMARY KEY,
	key         TEXT NOT NULL UNIQUE CHECK (key <> ''),
	envelope_id TEXT NOT NULL UNIQUE CHECK (envelope_id <> ''),
	kind        TEXT NOT NULL,
	envelope    BLOB,
	attempts    INTEGER NOT NULL DEFAULT 1 CHECK (attempts >= 1),
	arrived_at  INTEGER NOT NULL,
	expires_at  INTEGER NOT NULL,
	done_at     INTEGER,
	CHECK (done_at IS NOT NULL OR envelope IS NOT NULL)
);

-- PendingEnvelopes reads pending rows in arrival order.
CREATE INDEX envelope_inbox_pending ON envelope_inbox (seq) WHERE done_at IS NULL;

-- PurgeEnvelopes ranges over done rows by expiry.
CREATE INDEX envelope_inbox_expires_at ON envelope_inbox (expires_at) WHERE done_at IS NOT NULL;
