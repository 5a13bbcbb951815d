package bot

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

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

// dispatch acknowledges one envelope and hands its work to the pool. It runs
// on the socket's read loop, so it never waits on Slack or Sentry, except to
// queue work when every worker is busy.
func (b *Bot) dispatch(ctx context.Context, s *socket, p *pool, req *socketmode.Request, arrived time.Time) {
	b.stats.envelopes.Add(1)
	log := b.log.With().Str("envelope_id", req.EnvelopeID).Str("type", req.Type).Int("retry_attempt", req.RetryAttempt).Logger()

	if req.Type == socketmode.RequestTypeInteractive && b.handlers.Suggestions != nil && isSuggestion(req.Payload) {
		// Its answer travels in the ack, so the ack waits for it.
		select {
		case b.suggesting <- struct{}{}:
			b.background.Go(func() {
				defer func() { <-b.suggesting }()
				b.suggest(ctx, s, req, arrived)
			})
		default:
			log.Warn().Msg("too many option lookups at once; answered with no options")
			if err := s.ack(req.EnvelopeID, emptyOptions()); err != nil {
				log.Warn().Err(err).Msg("could not acknowledge block_suggestion")
			}
		}
		return
	}
	if err := s.ack(req.EnvelopeID, nil); err != nil {
		// Slack will deliver it again; the redelivery key keeps it single.
		log.Warn().Err(err).Msg("could not acknowledge envelope")
	} else if b.cfg.Observe != nil {
		b.cfg.Observe(req.Type, time.Since(arrived))
	}

	u, err := b.decode(req)
	if err != nil {
		log.Warn().Err(err).Msg("envelope not handled")
		return
	}
	if u.run == nil {
		log.Debug().Msg("no handler for envelope; acknowledged only")
		return
	}
	if !p.submit(ctx, u) {
		log.Warn().Msg("shutting down: envelope acknowledged but not processed")
	}
}

func isSuggestion(payload json.RawMessage) bool {
	var t struct {
		Type string `json:"type"`
	}
	return json.Unmarshal(payload, &t) == nil && t.Type == string(slack.InteractionTypeBlockSuggestion)
}

// decode turns an envelope into a unit of work. A unit with a nil run means
// nothing is to be done.
func (b *Bot) decode(req *socketmode.Request) (unit, error) {
	switch req.Type {
	case socketmode.RequestTypeEventsAPI:
		return b.decodeEvent(req)
	case socketmode.RequestTypeSlashCommands:
		var cmd slack.SlashCommand
		if err := json.Unmarshal(req.Payload, &cmd); err != nil {
			return unit{}, fmt.Errorf("decoding slash command: %w", err)
		}
		if b.handlers.Commands == nil {
			return unit{}, nil
		}
		return unit{kind: "command", key: "envelope:" + req.EnvelopeID, run: func(ctx context.Context) error {
			return b.handlers.Commands.HandleCommand(ctx, cmd)
		}}, nil
	case socketmode.RequestTypeInteractive:
		var cb slack.InteractionCallback
		if err := json.Unmarshal(req.Payload, &cb); err != nil {
			return unit{}, fmt.Errorf("decoding interaction: %w", err)
		}
		if cb.Type != slack.InteractionTypeBlockActions || b.handlers.Actions == nil {
			return unit{}, nil
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
			return unit{}, fmt.Errorf("decoding interaction: %w", err)
		}
		a := Action{InteractionCallback: cb, AppUnfurlURL: extra.Container.AppUnfurlURL}
		if a.AppUnfurlURL == "" {
			a.AppUnfurlURL = extra.AppUnfurl.AppUnfurlURL
		}
		return unit{kind: "action", key: actionKey(req.EnvelopeID, &cb), run: func(ctx context.Context) error {
			return b.handlers.Actions.HandleAction(ctx, a)
		}}, nil
	default:
		return unit{}, fmt.Errorf("unknown envelope type %q", req.Type)
	}
}

// actionKey identifies one click: Slack stamps every action with action_ts,
// and a redelivered envelope carries the same one.
func actionKey(envelopeID string, cb *slack.InteractionCallback) string {
	if len(cb.ActionCallback.BlockActions) == 0 {
		return "envelope:" + envelopeID
	}
	a := cb.ActionCallback.BlockActions[0]
	return "action:" + cb.Team.ID + ":" + cb.User.ID + ":" + a.ActionID + ":" + a.ActionTs
}

func (b *Bot) decodeEvent(req *socketmode.Request) (unit, error) {
	var outer eventsAPIPayload
	if err := json.Unmarshal(req.Payload, &outer); err != nil {
		return unit{}, fmt.Errorf("decoding events_api payload: %w", err)
	}
	var inner struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(outer.Event, &inner); err != nil {
		return unit{}, fmt.Errorf("decoding inner event: %w", err)
	}
	key := "event:" + outer.EventID
	if outer.EventID == "" {
		key = "envelope:" + req.EnvelopeID
	}
	switch inner.Type {
	case "link_shared":
		var ev linkSharedEvent
		if err := json.Unmarshal(outer.Event, &ev); err != nil {
			return unit{}, fmt.Errorf("decoding link_shared: %w", err)
		}
		if b.handlers.LinkShared == nil {
			return unit{}, nil
		}
		ls := LinkShared{
			TeamID: outer.TeamID, EventID: outer.EventID, Channel: ev.Channel, User: ev.User,
			MessageTS: ev.MessageTS, ThreadTS: ev.ThreadTS, UnfurlID: ev.UnfurlID, Source: ev.Source,
			IsBotUserMember: ev.IsBotUserMember,
		}
		for _, l := range ev.Links {
			ls.URLs = append(ls.URLs, l.URL)
		}
		return unit{kind: "link_shared", key: key, run: func(ctx context.Context) error {
			return b.handlers.LinkShared.HandleLinkShared(ctx, ls)
		}}, nil
	default:
		return unit{}, nil
	}
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
