package slackfake

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// The builders below produce Socket Mode envelopes with the shapes of the
// shared fixtures (testdata/envelope-*.json), which follow Slack's documented
// fields. Blank inputs get the fixtures' workspace defaults. Each returns the
// envelope id and the JSON to pass to Server.Send.

// verificationToken is the deprecated token field Slack still puts in payloads.
const verificationToken = "XXYYZZ"

// LinkShared describes a link_shared event.
type LinkShared struct {
	TeamID          string
	Channel         string // "COMPOSER" for a link still in the message composer
	User            string
	MessageTS       string
	ThreadTS        string // omitted when blank
	UnfurlID        string
	Source          string // "conversations_history" or "composer"; derived from Channel when blank
	EventID         string
	RetryAttempt    int
	URLs            []string
	IsBotUserMember bool
}

type eventsAPIEnvelope struct {
	EnvelopeID             string        `json:"envelope_id"`
	Type                   string        `json:"type"`
	AcceptsResponsePayload bool          `json:"accepts_response_payload"`
	RetryAttempt           int           `json:"retry_attempt"`
	RetryReason            string        `json:"retry_reason"`
	Payload                eventCallback `json:"payload"`
}

type eventCallback struct {
	Token              string          `json:"token"`
	TeamID             string          `json:"team_id"`
	APIAppID           string          `json:"api_app_id"`
	Event              linkSharedEvent `json:"event"`
	Type               string          `json:"type"`
	EventID            string          `json:"event_id"`
	EventTime          int64           `json:"event_time"`
	Authorizations     []authorization `json:"authorizations"`
	IsExtSharedChannel bool            `json:"is_ext_shared_channel"`
	EventContext       string          `json:"event_context"`
}

type authorization struct {
	EnterpriseID        *string `json:"enterprise_id"`
	TeamID              string  `json:"team_id"`
	UserID              string  `json:"user_id"`
	IsBot               bool    `json:"is_bot"`
	IsEnterpriseInstall bool    `json:"is_enterprise_install"`
}

type linkSharedEvent struct {
	Type            string       `json:"type"`
	Channel         string       `json:"channel"`
	IsBotUserMember bool         `json:"is_bot_user_member"`
	User            string       `json:"user"`
	MessageTS       string       `json:"message_ts"`
	ThreadTS        string       `json:"thread_ts,omitempty"`
	UnfurlID        string       `json:"unfurl_id"`
	Source          string       `json:"source"`
	Links           []sharedLink `json:"links"`
	EventTS         string       `json:"event_ts"`
}

type sharedLink struct {
	Domain string `json:"domain"`
	URL    string `json:"url"`
}

// LinkSharedEnvelope builds an events_api envelope carrying link_shared.
func LinkSharedEnvelope(ev LinkShared) (string, []byte) {
	now := time.Now()
	team := or(ev.TeamID, TeamID)
	channel := or(ev.Channel, "C0BACKEND")
	composer := channel == "COMPOSER"
	user := or(ev.User, "U0ALICE")
	source := ev.Source
	if source == "" {
		source = "conversations_history"
		if composer {
			source = "composer"
		}
	}
	msgTS := ev.MessageTS
	if msgTS == "" {
		if composer {
			// Composer links have no message yet; Slack uses the unfurl id.
			msgTS = or(ev.UnfurlID, user+"-"+newUUID()+"-"+randomHex(16))
		} else {
			msgTS = tsOf(now)
		}
	}
	unfurlID := ev.UnfurlID
	if unfurlID == "" {
		if composer {
			unfurlID = msgTS
		} else {
			unfurlID = channel + "." + msgTS + "." + randomHex(2)
		}
	}
	links := make([]sharedLink, 0, len(ev.URLs))
	for _, u := range ev.URLs {
		host := ""
		if p, err := url.Parse(u); err == nil {
			host = p.Hostname()
		}
		links = append(links, sharedLink{Domain: host, URL: u})
	}
	retryReason := ""
	if ev.RetryAttempt > 0 {
		retryReason = "timeout"
	}
	id := newUUID()
	env := eventsAPIEnvelope{
		EnvelopeID:   id,
		Type:         "events_api",
		RetryAttempt: ev.RetryAttempt,
		RetryReason:  retryReason,
		Payload: eventCallback{
			Token:    verificationToken,
			TeamID:   team,
			APIAppID: AppID,
			Event: linkSharedEvent{
				Type:            "link_shared",
				Channel:         channel,
				IsBotUserMember: ev.IsBotUserMember,
				User:            user,
				MessageTS:       msgTS,
				ThreadTS:        ev.ThreadTS,
				UnfurlID:        unfurlID,
				Source:          source,
				Links:           links,
				EventTS:         tsOf(now),
			},
			Type:           "event_callback",
			EventID:        or(ev.EventID, "Ev"+strings.ToUpper(randomHex(5))),
			EventTime:      now.Unix(),
			Authorizations: []authorization{{TeamID: team, UserID: BotUserID, IsBot: true}},
			EventContext:   "4-" + base64.RawStdEncoding.EncodeToString([]byte(`{"et":"link_shared","tid":"`+team+`","aid":"`+AppID+`"}`)),
		},
	}
	return id, mustJSON(env)
}

// SlashCommand describes a /sentry invocation.
type SlashCommand struct {
	TeamID      string
	ChannelID   string
	ChannelName string
	UserID      string
	UserName    string
	Text        string
	ResponseURL string
	TriggerID   string
}

type slashEnvelope struct {
	EnvelopeID             string       `json:"envelope_id"`
	Type                   string       `json:"type"`
	AcceptsResponsePayload bool         `json:"accepts_response_payload"`
	Payload                slashPayload `json:"payload"`
}

type slashPayload struct {
	Token               string `json:"token"`
	TeamID              string `json:"team_id"`
	TeamDomain          string `json:"team_domain"`
	ChannelID           string `json:"channel_id"`
	ChannelName         string `json:"channel_name"`
	UserID              string `json:"user_id"`
	UserName            string `json:"user_name"`
	Command             string `json:"command"`
	Text                string `json:"text"`
	APIAppID            string `json:"api_app_id"`
	IsEnterpriseInstall string `json:"is_enterprise_install"` // a string in Slack's payload
	ResponseURL         string `json:"response_url"`
	TriggerID           string `json:"trigger_id"`
}

// SlashCommandEnvelope builds a slash_commands envelope for "/sentry". Slash
// commands accept a response payload in the ack.
func SlashCommandEnvelope(c SlashCommand) (string, []byte) {
	user := or(c.UserID, "U0ALICE")
	id := newUUID()
	env := slashEnvelope{
		EnvelopeID:             id,
		Type:                   "slash_commands",
		AcceptsResponsePayload: true,
		Payload: slashPayload{
			Token:               verificationToken,
			TeamID:              or(c.TeamID, TeamID),
			TeamDomain:          TeamDomain,
			ChannelID:           or(c.ChannelID, "C0BACKEND"),
			ChannelName:         or(c.ChannelName, "backend"),
			UserID:              user,
			UserName:            or(c.UserName, nameOf(user)),
			Command:             "/sentry",
			Text:                c.Text,
			APIAppID:            AppID,
			IsEnterpriseInstall: "false",
			ResponseURL:         c.ResponseURL,
			TriggerID:           or(c.TriggerID, newTriggerID()),
		},
	}
	return id, mustJSON(env)
}

// BlockAction describes a click on an interactive element.
type BlockAction struct {
	TeamID      string
	UserID      string
	UserName    string
	ChannelID   string
	ChannelName string
	MessageTS   string
	// InUnfurl puts the element inside an app unfurl of UnfurlURL: the
	// container is a message_attachment and the payload carries app_unfurl.
	InUnfurl     bool
	UnfurlURL    string
	UnfurlBlocks json.RawMessage // the unfurl's blocks as rendered; a placeholder section when nil
	ActionID     string
	BlockID      string
	// Value is a button's value. SelectedOption, when set, makes the action a
	// select choice (external_select unless ActionType says otherwise) with
	// that option value.
	Value          string
	SelectedOption string
	ActionType     string
	Text           string // button label; "Button" when blank
	ResponseURL    string
	ActionTS       string
	TriggerID      string
}

type interactiveEnvelope struct {
	EnvelopeID             string `json:"envelope_id"`
	Type                   string `json:"type"`
	AcceptsResponsePayload bool   `json:"accepts_response_payload"`
	Payload                any    `json:"payload"`
}

type interactUser struct {
	ID       string `json:"id"`
	Username string `json:"username"`
	Name     string `json:"name"`
	TeamID   string `json:"team_id"`
}

type interactTeam struct {
	ID     string `json:"id"`
	Domain string `json:"domain"`
}

type interactChannel struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type plainText struct {
	Type  string `json:"type"`
	Text  string `json:"text"`
	Emoji bool   `json:"emoji"`
}

type attachmentContainer struct {
	Type         string `json:"type"`
	MessageTS    string `json:"message_ts"`
	AttachmentID int    `json:"attachment_id"`
	ChannelID    string `json:"channel_id"`
	IsEphemeral  bool   `json:"is_ephemeral"`
	IsAppUnfurl  bool   `json:"is_app_unfurl"`
	AppUnfurlURL string `json:"app_unfurl_url"`
}

type messageContainer struct {
	Type        string `json:"type"`
	MessageTS   string `json:"message_ts"`
	ChannelID   string `json:"channel_id"`
	IsEphemeral bool   `json:"is_ephemeral"`
}

type appUnfurl struct {
	ID           int             `json:"id"`
	AppUnfurlURL string          `json:"app_unfurl_url"`
	Blocks       json.RawMessage `json:"blocks"`
}

type blockActionsPayload struct {
	Type                string          `json:"type"`
	User                interactUser    `json:"user"`
	APIAppID            string          `json:"api_app_id"`
	Token               string          `json:"token"`
	Container           any             `json:"container"`
	AppUnfurl           *appUnfurl      `json:"app_unfurl,omitempty"`
	TriggerID           string          `json:"trigger_id"`
	Team                interactTeam    `json:"team"`
	Enterprise          *struct{}       `json:"enterprise"`
	IsEnterpriseInstall bool            `json:"is_enterprise_install"`
	Channel             interactChannel `json:"channel"`
	Message             map[string]any  `json:"message,omitempty"`
	State               actionState     `json:"state"`
	ResponseURL         string          `json:"response_url"`
	Actions             []action        `json:"actions"`
}

type actionState struct {
	Values map[string]any `json:"values"`
}

type action struct {
	Type           string          `json:"type"`
	ActionID       string          `json:"action_id"`
	BlockID        string          `json:"block_id"`
	Value          string          `json:"value,omitempty"`
	SelectedOption *selectedOption `json:"selected_option,omitempty"`
	Text           *plainText      `json:"text,omitempty"`
	ActionTS       string          `json:"action_ts"`
}

type selectedOption struct {
	Text  plainText `json:"text"`
	Value string    `json:"value"`
}

// BlockActionsEnvelope builds an interactive envelope carrying block_actions.
func BlockActionsEnvelope(a BlockAction) (string, []byte) {
	team := or(a.TeamID, TeamID)
	user := or(a.UserID, "U0BOB")
	name := or(a.UserName, nameOf(user))
	channel := or(a.ChannelID, "C0BACKEND")
	msgTS := or(a.MessageTS, tsOf(time.Now()))
	p := blockActionsPayload{
		Type:        "block_actions",
		User:        interactUser{ID: user, Username: name, Name: name, TeamID: team},
		APIAppID:    AppID,
		Token:       verificationToken,
		TriggerID:   or(a.TriggerID, newTriggerID()),
		Team:        interactTeam{ID: team, Domain: TeamDomain},
		Channel:     interactChannel{ID: channel, Name: or(a.ChannelName, "backend")},
		State:       actionState{Values: map[string]any{}},
		ResponseURL: a.ResponseURL,
	}
	if a.InUnfurl {
		p.Container = attachmentContainer{
			Type: "message_attachment", MessageTS: msgTS, AttachmentID: 1, ChannelID: channel,
			IsAppUnfurl: true, AppUnfurlURL: a.UnfurlURL,
		}
		blocks := a.UnfurlBlocks
		if blocks == nil {
			blocks = mustJSON([]any{map[string]any{
				"type": "section", "block_id": a.BlockID,
				"text": map[string]string{"type": "mrkdwn", "text": "unfurl card"},
			}})
		}
		p.AppUnfurl = &appUnfurl{ID: 1, AppUnfurlURL: a.UnfurlURL, Blocks: blocks}
	} else {
		p.Container = messageContainer{Type: "message", MessageTS: msgTS, ChannelID: channel}
		// Clicks in a message carry the message the bot posted.
		p.Message = map[string]any{
			"type": "message", "user": BotUserID, "bot_id": BotID, "app_id": AppID,
			"team": team, "text": "", "ts": msgTS, "blocks": []any{},
		}
	}
	act := action{
		Type:     "button",
		ActionID: a.ActionID,
		BlockID:  a.BlockID,
		ActionTS: or(a.ActionTS, tsOf(time.Now())),
	}
	if a.SelectedOption != "" {
		act.Type = or(a.ActionType, "external_select")
		act.SelectedOption = &selectedOption{
			Text:  plainText{Type: "plain_text", Text: a.SelectedOption, Emoji: true},
			Value: a.SelectedOption,
		}
	} else {
		act.Type = or(a.ActionType, "button")
		act.Value = a.Value
		act.Text = &plainText{Type: "plain_text", Text: or(a.Text, "Button"), Emoji: true}
	}
	p.Actions = []action{act}
	id := newUUID()
	return id, mustJSON(interactiveEnvelope{EnvelopeID: id, Type: "interactive", Payload: p})
}

// BlockSuggestion describes an external select asking for options.
type BlockSuggestion struct {
	TeamID      string
	UserID      string
	UserName    string
	ChannelID   string
	ChannelName string
	MessageTS   string
	ActionID    string
	BlockID     string
	Value       string // what the user typed
	// InUnfurl puts the select inside an app unfurl (container
	// message_attachment), else in a plain message.
	InUnfurl bool
}

type suggestionContainer struct {
	Type        string `json:"type"`
	MessageTS   string `json:"message_ts"`
	ChannelID   string `json:"channel_id"`
	IsAppUnfurl bool   `json:"is_app_unfurl"`
}

type blockSuggestionPayload struct {
	Type      string          `json:"type"`
	User      interactUser    `json:"user"`
	Container any             `json:"container"`
	APIAppID  string          `json:"api_app_id"`
	Token     string          `json:"token"`
	ActionID  string          `json:"action_id"`
	BlockID   string          `json:"block_id"`
	Value     string          `json:"value"`
	Team      interactTeam    `json:"team"`
	Channel   interactChannel `json:"channel"`
}

// BlockSuggestionEnvelope builds an interactive envelope carrying
// block_suggestion. Slack expects the options in the ack payload.
func BlockSuggestionEnvelope(sg BlockSuggestion) (string, []byte) {
	team := or(sg.TeamID, TeamID)
	user := or(sg.UserID, "U0BOB")
	name := or(sg.UserName, nameOf(user))
	channel := or(sg.ChannelID, "C0BACKEND")
	msgTS := or(sg.MessageTS, tsOf(time.Now()))
	var container any = messageContainer{Type: "message", MessageTS: msgTS, ChannelID: channel}
	if sg.InUnfurl {
		container = suggestionContainer{Type: "message_attachment", MessageTS: msgTS, ChannelID: channel, IsAppUnfurl: true}
	}
	id := newUUID()
	return id, mustJSON(interactiveEnvelope{
		EnvelopeID:             id,
		Type:                   "interactive",
		AcceptsResponsePayload: true,
		Payload: blockSuggestionPayload{
			Type:      "block_suggestion",
			User:      interactUser{ID: user, Username: name, Name: name, TeamID: team},
			Container: container,
			APIAppID:  AppID,
			Token:     verificationToken,
			ActionID:  sg.ActionID,
			BlockID:   sg.BlockID,
			Value:     sg.Value,
			Team:      interactTeam{ID: team, Domain: TeamDomain},
			Channel:   interactChannel{ID: channel, Name: or(sg.ChannelName, "backend")},
		},
	})
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// nameOf derives a readable user name from an id like "U0ALICE".
func nameOf(userID string) string {
	return strings.ToLower(strings.TrimPrefix(strings.TrimPrefix(userID, "U"), "0"))
}

func tsOf(t time.Time) string {
	return fmt.Sprintf("%d.%06d", t.Unix(), t.Nanosecond()/1000)
}

func newTriggerID() string {
	return fmt.Sprintf("%d.%d.%s", time.Now().UnixNano()/1000, 3485157640, randomHex(16))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("slackfake: encoding envelope: %v", err))
	}
	return b
}
