package slackfake

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// Limits Slack documents for chat.postMessage and friends.
const (
	maxBlocks   = 50
	maxTextLen  = 40000
	maxBodySize = 8 << 20
)

// args are a request's arguments: form fields, query parameters and the
// top-level fields of a JSON body (strings as-is, anything else as raw JSON).
type args url.Values

func (a args) get(name string) string { return url.Values(a).Get(name) }

// method answers one Web API method: the fields to add to {"ok":true} or the
// Slack error code.
type method struct {
	token string // "bot" or "app": which token the method accepts
	serve func(s *Server, a args) (map[string]any, string)
}

// route finds the handler of a Web API method.
func route(name string) (method, bool) {
	switch name {
	case "apps.connections.open":
		return method{token: "app", serve: (*Server).connectionsOpen}, true
	case "auth.test":
		return method{token: "bot", serve: (*Server).authTest}, true
	case "chat.unfurl":
		return method{token: "bot", serve: (*Server).chatUnfurl}, true
	case "chat.postMessage":
		return method{token: "bot", serve: (*Server).chatPostMessage}, true
	case "chat.update":
		return method{token: "bot", serve: (*Server).chatUpdate}, true
	case "chat.postEphemeral":
		return method{token: "bot", serve: (*Server).chatPostEphemeral}, true
	case "users.info":
		return method{token: "bot", serve: (*Server).usersInfo}, true
	case "views.open":
		return method{token: "bot", serve: (*Server).viewsOpen}, true
	}
	return method{}, false
}

func (s *Server) handleAPI(w http.ResponseWriter, r *http.Request) {
	call := Call{Method: strings.TrimPrefix(r.URL.Path, "/api/"), At: time.Now(), Form: url.Values{}}
	a := args{}
	for k, vs := range r.URL.Query() {
		call.Form[k] = append(call.Form[k], vs...)
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodySize))
	if err != nil {
		s.answer(w, &call, http.StatusBadRequest, nil, "request_timeout")
		return
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case ct == "application/x-www-form-urlencoded":
		vals, err := url.ParseQuery(string(body))
		if err != nil {
			s.answer(w, &call, http.StatusOK, nil, "invalid_form_data")
			return
		}
		for k, vs := range vals {
			call.Form[k] = append(call.Form[k], vs...)
		}
	case ct == "application/json" && len(bytes.TrimSpace(body)) > 0:
		var top map[string]json.RawMessage
		if err := json.Unmarshal(body, &top); err != nil {
			s.answer(w, &call, http.StatusOK, nil, "invalid_json")
			return
		}
		call.JSON = body
		for k, raw := range top {
			var str string
			if json.Unmarshal(raw, &str) == nil {
				a[k] = []string{str}
			} else {
				a[k] = []string{string(raw)}
			}
		}
	}

	token := call.Form.Get("token")
	if h := r.Header.Get("Authorization"); strings.HasPrefix(h, "Bearer ") {
		token = strings.TrimPrefix(h, "Bearer ")
	}
	call.Form.Del("token")
	delete(a, "token")
	for k, vs := range call.Form {
		a[k] = vs
	}
	switch {
	case token == "":
	case token == s.opts.BotToken:
		call.Token = "bot"
	case token == s.opts.AppToken:
		call.Token = "app"
	}

	if f, ok := s.takeFailure(call.Method); ok {
		s.fail(w, &call, f)
		return
	}

	m, known := route(call.Method)
	switch {
	case !known:
		s.answer(w, &call, http.StatusOK, nil, "unknown_method")
	case token == "":
		s.answer(w, &call, http.StatusOK, nil, "not_authed")
	case call.Token == "":
		s.answer(w, &call, http.StatusOK, nil, "invalid_auth")
	case call.Token != m.token:
		s.answer(w, &call, http.StatusOK, nil, "not_allowed_token_type")
	default:
		fields, code := m.serve(s, a)
		s.answer(w, &call, http.StatusOK, fields, code)
	}
}

// fail answers an injected failure: 429 with Retry-After and Slack's
// ratelimited body, or a 5xx with an HTML body (slack-go does not parse it).
func (s *Server) fail(w http.ResponseWriter, call *Call, f failure) {
	secs := int((f.retryAfter + time.Second - 1) / time.Second)
	if f.status == http.StatusTooManyRequests || f.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(secs))
	}
	call.Status = f.status
	if f.status == http.StatusTooManyRequests {
		call.Error = "ratelimited"
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(f.status)
		_, _ = w.Write([]byte(`{"ok":false,"error":"ratelimited"}`))
	} else {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.status)
		_, _ = fmt.Fprintf(w, "<html><body>%d %s</body></html>", f.status, http.StatusText(f.status))
	}
	s.record(*call)
}

func (s *Server) answer(w http.ResponseWriter, call *Call, status int, fields map[string]any, code string) {
	body := map[string]any{}
	for k, v := range fields {
		body[k] = v
	}
	body["ok"] = code == ""
	if code != "" {
		body["error"] = code
	}
	b, _ := json.Marshal(body)
	call.Status = status
	call.Error = code
	s.record(*call)
	if code != "" {
		s.log.Debug().Str("method", call.Method).Str("error", code).Msg("slackfake: api error")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func (s *Server) connectionsOpen(args) (map[string]any, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := randomHex(16)
	s.tickets[t] = true
	s.opened++
	s.notifyLocked()
	return map[string]any{"url": "ws" + strings.TrimPrefix(s.base, "http") + "/link/?ticket=" + t + "&app_id=" + AppID}, ""
}

func (s *Server) authTest(args) (map[string]any, string) {
	return map[string]any{
		"url":                   "https://" + TeamDomain + ".slack.com/",
		"team":                  "Acme",
		"user":                  "sentrybot",
		"team_id":               TeamID,
		"user_id":               BotUserID,
		"bot_id":                BotID,
		"is_enterprise_install": false,
	}, ""
}

// chatUnfurl follows chat.unfurl's documented contract: channel+ts or
// unfurl_id+source, never both; unfurls a JSON map of URL to attachment; and
// only URLs of a link_shared event Slack delivered for that message.
func (s *Server) chatUnfurl(a args) (map[string]any, string) {
	channel, ts := a.get("channel"), a.get("ts")
	id, source := a.get("unfurl_id"), a.get("source")
	byMsg := channel != "" || ts != ""
	byID := id != "" || source != ""
	var key string
	switch {
	case byMsg && byID:
		return nil, "invalid_arguments"
	case byID:
		if id == "" || (source != "composer" && source != "conversations_history") {
			return nil, "invalid_arguments"
		}
		key = unfurlKey(id, source)
	case channel == "":
		return nil, "missing_channel"
	case ts == "":
		return nil, "missing_ts"
	default:
		key = msgKey(channel, ts)
	}

	raw := a.get("unfurls")
	if raw == "" {
		return nil, "missing_unfurls"
	}
	var unfurls map[string]json.RawMessage
	if err := json.Unmarshal([]byte(raw), &unfurls); err != nil || unfurls == nil {
		return nil, "invalid_unfurls_format"
	}
	for _, v := range unfurls {
		v = bytes.TrimSpace(v)
		if len(v) == 0 || v[0] != '{' {
			return nil, "invalid_unfurls_format"
		}
		var att slack.Attachment
		if json.Unmarshal(v, &att) != nil {
			return nil, "cannot_parse_attachment"
		}
		if code := checkBlocks(att.Blocks.BlockSet); code != "" {
			return nil, code
		}
	}

	s.mu.Lock()
	shared, ok := s.links[key]
	s.mu.Unlock()
	if !ok {
		return nil, "cannot_unfurl_url"
	}
	for u := range unfurls {
		if !slices.Contains(shared, u) {
			return nil, "cannot_unfurl_message"
		}
	}
	return nil, ""
}

func checkBlocks(b []slack.Block) string {
	if len(b) > maxBlocks {
		return "invalid_blocks"
	}
	return ""
}

// messageContent validates text/blocks/attachments of a chat method and
// returns the message object Slack echoes back.
func messageContent(a args, ts string) (map[string]any, string) {
	text, blocks, atts := a.get("text"), a.get("blocks"), a.get("attachments")
	if len(text) > maxTextLen {
		return nil, "msg_too_long"
	}
	msg := map[string]any{
		"type": "message", "user": BotUserID, "bot_id": BotID, "app_id": AppID,
		"team": TeamID, "text": text, "ts": ts,
	}
	if blocks != "" {
		var bs []json.RawMessage
		if json.Unmarshal([]byte(blocks), &bs) != nil {
			return nil, "invalid_blocks"
		}
		var typed slack.Blocks
		if json.Unmarshal([]byte(blocks), &typed) != nil || len(bs) > maxBlocks {
			return nil, "invalid_blocks"
		}
		msg["blocks"] = json.RawMessage(blocks)
	}
	if atts != "" {
		var as []slack.Attachment
		if json.Unmarshal([]byte(atts), &as) != nil {
			return nil, "invalid_attachments"
		}
		msg["attachments"] = json.RawMessage(atts)
	}
	if text == "" && blocks == "" && atts == "" {
		return nil, "no_text"
	}
	return msg, ""
}

func postedKey(channel, ts string) string { return channel + "\x00" + ts }

func (s *Server) chatPostMessage(a args) (map[string]any, string) {
	channel := a.get("channel")
	if channel == "" {
		return nil, "channel_not_found"
	}
	ts := s.nextTS()
	msg, code := messageContent(a, ts)
	if code != "" {
		return nil, code
	}
	if tt := a.get("thread_ts"); tt != "" {
		msg["thread_ts"] = tt
	}
	s.mu.Lock()
	s.messages[postedKey(channel, ts)] = true
	s.mu.Unlock()
	return map[string]any{"channel": channel, "ts": ts, "message": msg}, ""
}

// chatUpdate only edits messages the bot posted, as Slack does.
func (s *Server) chatUpdate(a args) (map[string]any, string) {
	channel, ts := a.get("channel"), a.get("ts")
	if channel == "" {
		return nil, "channel_not_found"
	}
	if ts == "" {
		return nil, "message_not_found"
	}
	s.mu.Lock()
	posted := s.messages[postedKey(channel, ts)]
	s.mu.Unlock()
	if !posted {
		return nil, "message_not_found"
	}
	msg, code := messageContent(a, ts)
	if code != "" {
		return nil, code
	}
	return map[string]any{"channel": channel, "ts": ts, "text": a.get("text"), "message": msg}, ""
}

func (s *Server) chatPostEphemeral(a args) (map[string]any, string) {
	if a.get("channel") == "" {
		return nil, "channel_not_found"
	}
	if a.get("user") == "" {
		return nil, "user_not_in_channel"
	}
	ts := s.nextTS()
	if _, code := messageContent(a, ts); code != "" {
		return nil, code
	}
	return map[string]any{"message_ts": ts}, ""
}

func (s *Server) usersInfo(a args) (map[string]any, string) {
	s.mu.Lock()
	u, ok := s.users[a.get("user")]
	s.mu.Unlock()
	if !ok {
		return nil, "user_not_found"
	}
	return map[string]any{"user": u}, ""
}

func (s *Server) viewsOpen(a args) (map[string]any, string) {
	if a.get("trigger_id") == "" {
		return nil, "invalid_trigger_id"
	}
	var view map[string]any
	if err := json.Unmarshal([]byte(a.get("view")), &view); err != nil || view == nil {
		return nil, "invalid_arguments"
	}
	view["id"] = "V" + strings.ToUpper(randomHex(5))
	view["team_id"] = TeamID
	view["app_id"] = AppID
	view["bot_id"] = BotID
	return map[string]any{"view": view}, ""
}

// ResponseURL hands out a response_url on this server. kind only labels the
// path (for example "commands" or "actions", as Slack's do). Posts to it are
// recorded as calls with Method "response_url".
func (s *Server) ResponseURL(kind string) string {
	if kind == "" {
		kind = "hook"
	}
	path := "/hooks/" + url.PathEscape(kind) + "/" + TeamID + "/" + randomHex(8)
	s.mu.Lock()
	s.hooks[path] = true
	s.mu.Unlock()
	return s.base + path
}

// handleHook records a response_url post. Slack answers these with
// {"ok":true}; unknown URLs get 404 and bodies that are not JSON 400.
func (s *Server) handleHook(w http.ResponseWriter, r *http.Request) {
	call := Call{Method: "response_url", Hook: s.base + r.URL.Path, At: time.Now(), Form: url.Values{}}
	s.mu.Lock()
	known := s.hooks[r.URL.Path]
	s.mu.Unlock()
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBodySize))
	if f, ok := s.takeFailure("response_url"); ok {
		s.fail(w, &call, f)
		return
	}
	if !known || r.Method != http.MethodPost {
		call.Status, call.Error = http.StatusNotFound, "no_service"
		s.record(call)
		http.Error(w, "no_service", http.StatusNotFound)
		return
	}
	if !json.Valid(body) {
		call.Status, call.Error = http.StatusBadRequest, "invalid_payload"
		s.record(call)
		http.Error(w, "invalid_payload", http.StatusBadRequest)
		return
	}
	call.JSON = body
	call.Status = http.StatusOK
	s.record(call)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"ok":true}`))
}
