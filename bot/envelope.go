package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/rs/zerolog"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// eventsAPIPayload is the outer event_callback of an events_api envelope.
type eventsAPIPayload struct {
	TeamID  string          `json:"team_id"`
	EventID string          `json:"event_id"`
	Type    string          `json:"type"`
	Event   json.RawMessage `json:"event"`
}

// linkSharedEvent is decoded by hand: slack-go's LinkSharedEvent drops
// unfurl_id, source and is_bot_user_member.
type linkSharedEvent struct {
	Type            string `json:"type"`
	Channel         string `json:"channel"`
	User            string `json:"user"`
	MessageTS       string `json:"message_ts"`
	ThreadTS        string `json:"thread_ts"`
	UnfurlID        string `json:"unfurl_id"`
	Source          string `json:"source"`
	IsBotUserMember bool   `json:"is_bot_user_member"`
	Links           []struct {
		Domain string `json:"domain"`
		URL    string `json:"url"`
	} `json:"links"`
}

// dispatch records one envelope, acknowledges it and hands its work to the
// pool. It runs on the socket's read loop, so it never waits on Slack or
// Sentry; it waits on one write to the store, and to queue work when every
// worker is busy.
func (b *Bot) dispatch(ctx context.Context, s *socket, p *pool, req *socketmode.Request, raw []byte, arrived time.Time) {
	b.stats.envelopes.Add(1)
	// Most envelopes log nothing, so no logger is derived for each: every
	// event takes the envelope's fields itself.
	key := ""
	logAt := func(ev *zerolog.Event) *zerolog.Event { return envelopeFields(ev, req, key) }
	if req.EnvelopeID == "" {
		logAt(b.log.Warn()).Msg("envelope without an envelope_id; ignored")
		return
	}

	if req.Type == socketmode.RequestTypeInteractive && b.handlers.Suggestions != nil && isSuggestion(req.Payload) {
		// Its answer travels in the ack, so the ack waits for it. Nothing
		// is recorded: an answer that comes too late is of no use.
		select {
		case b.suggesting <- struct{}{}:
			b.background.Go(func() {
				defer func() { <-b.suggesting }()
				b.suggest(ctx, s, req, arrived)
			})
		default:
			logAt(b.log.Warn()).Msg("too many option lookups at once; answered with no options")
			if err := s.ack(req.EnvelopeID, emptyOptions()); err != nil {
				logAt(b.log.Warn()).Err(err).Msg("could not acknowledge block_suggestion")
			}
		}
		return
	}

	w, err := decodeEnvelope(req)
	if err != nil {
		logAt(b.log.Warn()).Err(err).Msg("envelope not handled")
		b.ack(s, req, arrived, key)
		return
	}
	// A shared link of another workspace is nobody's to answer: it is
	// dropped here. Commands and clicks reach the handlers, whose
	// authorization refuses them with a reply.
	if team := w.team(); b.cfg.TeamID != "" && w.kind == kindLinkShared && team != b.cfg.TeamID {
		logAt(b.log.Warn()).Str("team", team).Msg("envelope from a workspace sentrybot doesn't serve; acknowledged and ignored")
		b.ack(s, req, arrived, key)
		return
	}
	u := b.unitOf(w)
	if u.run == nil {
		logAt(b.log.Debug()).Msg("no handler for envelope; acknowledged only")
		b.ack(s, req, arrived, key)
		return
	}
	key = u.key

	first, err := b.inbox.AdmitEnvelope(ctx, u.key, req.EnvelopeID, u.kind, raw, b.cfg.SeenTTL)
	if err != nil {
		ev := b.log.Error()
		if ctx.Err() != nil {
			ev = b.log.Info() // the socket is closing anyway
		}
		logAt(ev).Err(err).Msg("could not record envelope; not acknowledged, so Slack will deliver it again")
		return
	}
	// From here on the work is recorded: whatever becomes of the ack or of
	// this process, it runs once, now or after a restart.
	b.ack(s, req, arrived, key)
	if !first {
		b.stats.duplicates.Add(1)
		logAt(b.log.Info()).Msg("redelivered envelope already handled; skipped")
		return
	}
	if !p.submit(ctx, u) {
		logAt(b.log.Warn()).Msg("shutting down: envelope recorded, its work is left for the next start")
	}
}

// ack acknowledges an envelope with no payload. A failed ack is only logged:
// Slack delivers the envelope again, and the inbox recognises it.
func (b *Bot) ack(s *socket, req *socketmode.Request, arrived time.Time, key string) {
	if err := s.ack(req.EnvelopeID, nil); err != nil {
		envelopeFields(b.log.Warn(), req, key).Err(err).Msg("could not acknowledge envelope")
	} else if b.cfg.Observe != nil {
		b.cfg.Observe(req.Type, time.Since(arrived))
	}
}

// envelopeFields adds what names an envelope, and the key of its work once
// known, to a log event.
func envelopeFields(ev *zerolog.Event, req *socketmode.Request, key string) *zerolog.Event {
	ev = ev.Str("envelope_id", req.EnvelopeID).Str("type", req.Type).Int("retry_attempt", req.RetryAttempt)
	if key != "" {
		ev = ev.Str("key", key)
	}
	return ev
}

func isSuggestion(payload json.RawMessage) bool {
	var t struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(payload, &t) == nil && t.Type == string(slack.InteractionTypeBlockSuggestion)
}

// Kinds of work an envelope can carry.
const (
	kindLinkShared = "link_shared"
	kindCommand    = "command"
	kindAction     = "action"
)

// work is what an envelope asks for, decoded. An empty kind means nothing is
// to be done.
type work struct {
	kind   string
	key    string // redelivery key; set whenever kind is
	link   LinkShared
	cmd    slack.SlashCommand
	action Action
}

// parseEnvelope reads one Socket Mode message. The read loop and the replay
// of recorded envelopes both go through it and decodeEnvelope, so a replayed
// envelope is the same work under the same key.
func parseEnvelope(raw []byte) (socketmode.Request, error) {
	var req socketmode.Request
	if err := json.Unmarshal(raw, &req); err != nil {
		return socketmode.Request{}, fmt.Errorf("decoding Socket Mode message: %w", err)
	}
	return req, nil
}

// decodeEnvelope says what work an envelope carries. It depends on nothing
// but the envelope.
func decodeEnvelope(req *socketmode.Request) (work, error) {
	switch req.Type {
	case socketmode.RequestTypeEventsAPI:
		return decodeEvent(req)
	case socketmode.RequestTypeSlashCommands:
		var cmd slack.SlashCommand
		if err := json.Unmarshal(req.Payload, &cmd); err != nil {
			return work{}, fmt.Errorf("decoding slash command: %w", err)
		}
		return work{kind: kindCommand, key: envelopeKey(req.EnvelopeID), cmd: cmd}, nil
	case socketmode.RequestTypeInteractive:
		var cb slack.InteractionCallback
		if err := json.Unmarshal(req.Payload, &cb); err != nil {
			return work{}, fmt.Errorf("decoding interaction: %w", err)
		}
		if cb.Type != slack.InteractionTypeBlockActions {
			return work{}, nil
		}
		var extra struct {
			Container struct {
				AppUnfurlURL string `json:"app_unfurl_url"`
			} `json:"container"`
			AppUnfurl struct {
				AppUnfurlURL string `json:"app_unfurl_url"`
			} `json:"app_unfurl"`
		}
		if err := json.Unmarshal(req.Payload, &extra); err != nil {
			return work{}, fmt.Errorf("decoding interaction: %w", err)
		}
		a := Action{InteractionCallback: cb, AppUnfurlURL: extra.Container.AppUnfurlURL}
		if a.AppUnfurlURL == "" {
			a.AppUnfurlURL = extra.AppUnfurl.AppUnfurlURL
		}
		return work{kind: kindAction, key: actionKey(req.EnvelopeID, &cb), action: a}, nil
	default:
		return work{}, fmt.Errorf("unknown envelope type %q", req.Type)
	}
}

// team is the Slack workspace the work comes from.
func (w work) team() string {
	switch w.kind {
	case kindLinkShared:
		return w.link.TeamID
	case kindCommand:
		return w.cmd.TeamID
	case kindAction:
		return w.action.Team.ID
	}
	return ""
}

func envelopeKey(envelopeID string) string { return "envelope:" + envelopeID }

// actionKey identifies one click: Slack stamps every action with action_ts,
// and a redelivered envelope carries the same one. Without one, the envelope
// id is all there is.
func actionKey(envelopeID string, cb *slack.InteractionCallback) string {
	if len(cb.ActionCallback.BlockActions) == 0 {
		return envelopeKey(envelopeID)
	}
	a := cb.ActionCallback.BlockActions[0]
	if a.ActionTs == "" {
		return envelopeKey(envelopeID)
	}
	return "action:" + cb.Team.ID + ":" + cb.User.ID + ":" + a.ActionID + ":" + a.ActionTs
}

func decodeEvent(req *socketmode.Request) (work, error) {
	var outer eventsAPIPayload
	if err := json.Unmarshal(req.Payload, &outer); err != nil {
		return work{}, fmt.Errorf("decoding events_api payload: %w", err)
	}
	var inner struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(outer.Event, &inner); err != nil {
		return work{}, fmt.Errorf("decoding inner event: %w", err)
	}
	key := "event:" + outer.EventID
	if outer.EventID == "" {
		key = envelopeKey(req.EnvelopeID)
	}
	switch inner.Type {
	case "link_shared":
		var ev linkSharedEvent
		if err := json.Unmarshal(outer.Event, &ev); err != nil {
			return work{}, fmt.Errorf("decoding link_shared: %w", err)
		}
		ls := LinkShared{
			TeamID: outer.TeamID, EventID: outer.EventID, Channel: ev.Channel, User: ev.User,
			MessageTS: ev.MessageTS, ThreadTS: ev.ThreadTS, UnfurlID: ev.UnfurlID, Source: ev.Source,
			IsBotUserMember: ev.IsBotUserMember,
		}
		for _, l := range ev.Links {
			ls.URLs = append(ls.URLs, l.URL)
		}
		return work{kind: kindLinkShared, key: key, link: ls}, nil
	default:
		return work{}, nil
	}
}

// unitOf binds work to its handler. The unit's run is nil when there is
// nothing to do or no handler for it.
func (b *Bot) unitOf(w work) unit {
	u := unit{kind: w.kind, key: w.key, attempt: 1}
	// Each closure holds only its own part of w: w as a whole carries all
	// three kinds of payload, several kilobytes per envelope.
	switch w.kind {
	case kindLinkShared:
		if h := b.handlers.LinkShared; h != nil {
			link := w.link
			u.run = func(ctx context.Context) error { return h.HandleLinkShared(ctx, link) }
		}
	case kindCommand:
		if h := b.handlers.Commands; h != nil {
			cmd := w.cmd
			u.run = func(ctx context.Context) error { return h.HandleCommand(ctx, cmd) }
		}
	case kindAction:
		if h := b.handlers.Actions; h != nil {
			action := w.action
			u.run = func(ctx context.Context) error { return h.HandleAction(ctx, action) }
		}
	}
	return u
}

// suggest answers a block_suggestion inside its ack, within SuggestTimeout.
// Whatever happens, Slack gets an ack: an empty option list at worst.
func (b *Bot) suggest(ctx context.Context, s *socket, req *socketmode.Request, arrived time.Time) {
	log := b.log.With().Str("envelope_id", req.EnvelopeID).Str("type", "block_suggestion").Logger()
	payload := emptyOptions()
	var cb slack.InteractionCallback
	if err := json.Unmarshal(req.Payload, &cb); err != nil {
		log.Warn().Err(err).Msg("decoding block_suggestion")
	} else {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), b.cfg.SuggestTimeout)
		var answer any
		err := safely(log, "suggestion", func() error {
			var err error
			answer, err = b.handlers.Suggestions.Suggest(sctx, cb)
			return err
		})
		cancel()
		if err != nil {
			log.Warn().Err(err).Msg("no options to suggest")
		} else if answer != nil {
			payload = answer
		}
	}
	if err := s.ack(req.EnvelopeID, payload); err != nil {
		log.Warn().Err(err).Msg("could not acknowledge block_suggestion")
	} else if b.cfg.Observe != nil {
		b.cfg.Observe("block_suggestion", time.Since(arrived))
	}
}

func emptyOptions() any { return map[string]any{"options": []any{}} }
