package sentryfake

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"sentrybot/internal/openapicheck"
	"sentrybot/sentry"
)

// subsetJSON holds the schemas of Sentry's OpenAPI description that
// sentrybot relies on (see testdata/README.md). The fake checks update
// bodies against it, so it rejects what Sentry's schema rejects.
//
//go:embed testdata/openapi-subset.json
var subsetJSON []byte

const putIssueRequestKey = "PUT /api/0/organizations/{organization_id_or_slug}/issues/{issue_id}/ request"

// subsetSchema returns one schema of subsetJSON; a missing key is a bug in
// this package, found by any test.
func subsetSchema(key string) []byte {
	var subset map[string]json.RawMessage
	if err := json.Unmarshal(subsetJSON, &subset); err != nil {
		panic("sentryfake: decode embedded schemas: " + err.Error())
	}
	s, ok := subset[key]
	if !ok {
		panic("sentryfake: no embedded schema " + key)
	}
	return s
}

// Messages Sentry's serializers answer with, from getsentry/sentry:
// src/sentry/api/helpers/group_index/validators/status_details.py,
// validators/in_commit.py and src/sentry/types/actor.py.
const (
	msgNoReleaseData   = "No release data present in the system to form a basis for 'Next Release'"
	msgUnknownRelease  = "Unable to find a release with the given version."
	msgUnknownRepo     = "Unable to find the given repository."
	msgUnparsableActor = "Could not parse actor. Format should be `type:id` where type is `team` or `user`."
	// Sentry formats the message as f"{actor.actor_type} does not exist"
	// with a (str, Enum), which Python 3.12+ renders as "ActorType.USER".
	msgUnknownUser = "ActorType.USER does not exist"
	msgUnknownTeam = "ActorType.TEAM does not exist"
)

// newIssueWindow is how recently an issue must have been first seen for
// Sentry to call it "new" again when it is unarchived.
const newIssueWindow = 7 * 24 * time.Hour

// AddRelease records a release of a project, newest last. Resolving "in the
// next release" or "in the current release" needs one, as in Sentry.
func (s *Server) AddRelease(projectSlug, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.releases[projectSlug], version) {
		s.releases[projectSlug] = append(s.releases[projectSlug], version)
	}
}

// groupKeys lists the fields of Sentry's base issue serializer, which the
// update and short-id endpoints answer with: those of the short-id example.
func groupKeys() map[string]bool {
	var example struct {
		Group map[string]json.RawMessage `json:"group"`
	}
	if err := json.Unmarshal(shortIDTemplate, &example); err != nil {
		panic("sentryfake: decode embedded JSON: " + err.Error())
	}
	keys := make(map[string]bool, len(example.Group))
	for k := range example.Group {
		keys[k] = true
	}
	return keys
}

// groupBody renders an issue as Sentry's base issue serializer does: the
// detail body without statistics, releases, activity and the like.
func (s *Server) groupBody(is *sentry.Issue) map[string]any {
	body := issueBody(is)
	for k := range body {
		if !s.groupKeys[k] {
			delete(body, k)
		}
	}
	return body
}

// updateIssue answers PUT /api/0/organizations/{org}/issues/{issue}/ as
// Sentry's GroupDetailsEndpoint does: the body is checked against the
// schema and the serializer's rules, then applied, and the answer is the
// whole updated issue.
func (s *Server) updateIssue(w http.ResponseWriter, r *http.Request) {
	raw, _ := io.ReadAll(r.Body) // ServeHTTP already buffered it
	status, body, moved := s.applyUpdate(r.PathValue("issue"), raw, s.callerOf(r))
	switch {
	case moved != "":
		http.Redirect(w, r, "/api/0/organizations/"+r.PathValue("org")+"/issues/"+moved+"/", http.StatusFound)
	case status == http.StatusNoContent:
		w.WriteHeader(status)
	default:
		writeJSON(w, status, body)
	}
}

// applyUpdate validates and applies one update on behalf of who. It
// returns the answer, or the id a merged-away issue moved to.
func (s *Server) applyUpdate(ref string, raw []byte, who caller) (status int, body any, moved string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if into, ok := s.mergedInto(ref); ok {
		return 0, nil, into
	}
	is := s.lookup(ref)
	if is == nil {
		return http.StatusNotFound, detail("The requested resource does not exist"), ""
	}

	if len(bytes.TrimSpace(raw)) == 0 {
		raw = []byte("{}") // no body is no change, as for Sentry
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return http.StatusBadRequest, detail("JSON parse error - " + err.Error()), ""
	}
	req, ok := v.(map[string]any)
	if !ok {
		return http.StatusBadRequest, map[string]any{"non_field_errors": []string{
			fmt.Sprintf("Invalid data. Expected a dictionary, but got %s.", pythonType(v))}}, ""
	}
	if problems := openapicheck.ValidatePatchJSON(s.putSchema, raw); problems != nil {
		return http.StatusBadRequest, detail("Invalid request body: " + strings.Join(problems, "; ")), ""
	}

	u, errs := s.checkUpdate(is, req, who.scopes)
	if len(errs) > 0 {
		return http.StatusBadRequest, errs, ""
	}
	if u.discard {
		s.removeIssue(is.ID)
		return http.StatusNoContent, nil, ""
	}
	s.apply(is, u, req, who.user)
	return http.StatusOK, s.groupBody(is), ""
}

// update is a checked update body.
type update struct {
	status      string // "", resolved, unresolved or ignored ("muted" and "resolvedInNextRelease" folded in)
	nextRelease bool
	inRelease   string // resolved version
	substatus   string // explicit substatus, "" to infer
	assign      bool
	assignee    *sentry.Assignee // nil unassigns
	discard     bool
}

// checkUpdate applies the rules of Sentry's GroupValidator beyond the
// schema and collects its errors the way Django REST framework shapes
// them: {"field": ["problem"]}, nested for statusDetails. scopes are the
// token's. s.mu must be held.
func (s *Server) checkUpdate(is *sentry.Issue, req map[string]any, scopes []string) (update, map[string]any) {
	var u update
	errs := map[string]any{}
	sdErrs := map[string]any{}
	sd, _ := req["statusDetails"].(map[string]any)
	releases := s.releases[is.Project.Slug]

	// The validator resolves inNextRelease to the latest release whatever
	// its value, so false still needs a release and still resolves in
	// the next release.
	if _, ok := sd["inNextRelease"]; ok {
		if len(releases) == 0 {
			sdErrs["inNextRelease"] = []string{msgNoReleaseData}
		}
		u.nextRelease = true
	}
	if v, ok := sd["inRelease"].(string); ok {
		switch {
		case v == "latest" && len(releases) == 0:
			sdErrs["inRelease"] = []string{msgNoReleaseData}
		case v == "latest":
			u.inRelease = releases[len(releases)-1]
		case !slices.Contains(releases, v):
			sdErrs["inRelease"] = []string{msgUnknownRelease}
		default:
			u.inRelease = v
		}
	}
	if _, ok := sd["inCommit"]; ok {
		// The fake knows no repositories.
		sdErrs["inCommit"] = map[string]any{"repository": []string{msgUnknownRepo}}
	}
	if len(sdErrs) > 0 {
		errs["statusDetails"] = sdErrs
	}

	if v, ok := req["assignedTo"].(string); ok {
		u.assign = true
		a, msg := s.resolveActor(v)
		if msg != "" {
			errs["assignedTo"] = []string{msg}
		}
		u.assignee = a
	}

	switch st, _ := req["status"].(string); st {
	case "muted":
		u.status = sentry.StatusIgnored
	case "resolvedInNextRelease":
		u.status, u.nextRelease = sentry.StatusResolved, true
	default:
		u.status = st
	}
	u.substatus, _ = req["substatus"].(string)
	// Sentry would store an archived issue with substatus "ongoing" and the
	// like without complaint; the fake refuses, since it is always a bug.
	if u.substatus != "" && !substatusFits(u.status, u.substatus) && u.status != sentry.StatusResolved && u.status != "" {
		errs["substatus"] = []string{fmt.Sprintf("sentryfake: substatus %q does not go with status %q", u.substatus, u.status)}
	}

	if discard, _ := req["discard"].(bool); discard {
		switch {
		case !slices.Contains(scopes, "event:admin"):
			errs["discard"] = []string{"You do not have permission to discard events"}
		case len(req) > 1:
			errs["non_field_errors"] = []string{"Other attributes cannot be updated when discarding"}
		}
		u.discard = true
	}
	return u, errs
}

func substatusFits(status, sub string) bool {
	switch sub {
	case sentry.SubstatusArchivedUntilEscalating, sentry.SubstatusArchivedUntilConditionMet, sentry.SubstatusArchivedForever:
		return status == sentry.StatusIgnored
	}
	return status == sentry.StatusUnresolved
}

// apply changes the issue as Sentry's update_groups does, recording actor
// where Sentry records who made the change; s.mu must be held.
func (s *Server) apply(is *sentry.Issue, u update, req map[string]any, actor sentry.User) {
	sd, _ := req["statusDetails"].(map[string]any)
	prev := is.Status
	switch u.status {
	case sentry.StatusResolved:
		// A resolution always clears the substatus.
		details := map[string]any{}
		switch {
		case u.nextRelease:
			details = map[string]any{"inNextRelease": true, "actor": userBody(actor)}
		case u.inRelease != "":
			details = map[string]any{"inRelease": u.inRelease, "actor": userBody(actor)}
		}
		is.Status, is.Substatus = sentry.StatusResolved, nil
		is.StatusDetails = mustJSON(details)
	case sentry.StatusUnresolved:
		sub := u.substatus
		if sub == "" {
			sub = sentry.SubstatusOngoing
			switch {
			case prev == sentry.StatusResolved:
				sub = sentry.SubstatusRegressed
			case prev == sentry.StatusIgnored && is.FirstSeen != nil && time.Since(*is.FirstSeen) < newIssueWindow:
				sub = sentry.SubstatusNew
			}
		}
		// Sentry updates status and substatus only of issues whose status
		// changes.
		if prev != sentry.StatusUnresolved {
			is.Status, is.Substatus = sentry.StatusUnresolved, &sub
		}
		is.StatusDetails = mustJSON(map[string]any{})
	case sentry.StatusIgnored:
		sub := u.substatus
		if sub == "" {
			sub = sentry.SubstatusArchivedForever
			// Any archive condition, even 0, makes Sentry infer
			// archived_until_condition_met.
			for _, k := range []string{"ignoreDuration", "ignoreCount", "ignoreWindow", "ignoreUserCount", "ignoreUserWindow"} {
				if v, ok := sd[k]; ok && v != nil {
					sub = sentry.SubstatusArchivedUntilConditionMet
				}
			}
		}
		// As for unresolved: re-archiving an archived issue keeps its
		// substatus, even when the new archive mode differs.
		if prev != sentry.StatusIgnored {
			is.Status, is.Substatus = sentry.StatusIgnored, &sub
		}
		details := map[string]any{}
		if sub != sentry.SubstatusArchivedUntilEscalating {
			details = snooze(sd, actor)
		}
		is.StatusDetails = mustJSON(details)
	}
	if u.assign {
		is.AssignedTo = u.assignee
	}
	if p, ok := req["priority"].(string); ok {
		is.Priority = &p
	}
}

// snooze renders the statusDetails of an archive with conditions, as
// Sentry's issue serializer reports its snooze; none yields {}.
func snooze(sd map[string]any, actor sentry.User) map[string]any {
	num := func(k string) int64 {
		n, _ := sd[k].(json.Number)
		v, _ := n.Int64()
		return v
	}
	out := map[string]any{}
	if m := num("ignoreDuration"); m > 0 {
		out["ignoreUntil"] = time.Now().UTC().Add(time.Duration(m) * time.Minute).Format(time.RFC3339)
	}
	for _, k := range []string{"ignoreCount", "ignoreWindow", "ignoreUserCount", "ignoreUserWindow"} {
		if v := num(k); v > 0 {
			out[k] = v
		}
	}
	if len(out) > 0 {
		out["actor"] = userBody(actor)
	}
	return out
}

// resolveActor reads an assignedTo value as Sentry's ActorField does. It
// returns nil and no message for "" (unassign). s.mu must be held.
func (s *Server) resolveActor(v string) (*sentry.Assignee, string) {
	if v == "" {
		return nil, ""
	}
	kind, id := "user", v
	switch {
	case isDigits(v):
	case strings.HasPrefix(v, "user:"):
		id = v[len("user:"):]
	case strings.HasPrefix(v, "team:"):
		kind, id = "team", v[len("team:"):]
	default:
		// A username or an email.
		for _, m := range s.members {
			if m.User != nil && (strings.EqualFold(m.User.Username, v) || strings.EqualFold(m.User.Email, v)) {
				return userAssignee(m.User), ""
			}
		}
		return nil, msgUnparsableActor
	}
	if !isDigits(id) {
		return nil, msgUnparsableActor
	}
	if kind == "team" {
		for _, t := range s.teams {
			if t.ID == id {
				return &sentry.Assignee{Type: "team", ID: t.ID, Name: t.Slug}, ""
			}
		}
		return nil, msgUnknownTeam
	}
	if m := s.memberByUserID(id); m != nil {
		return userAssignee(m.User), ""
	}
	return nil, msgUnknownUser
}

// userAssignee is how Sentry shows a user assignee: the display name
// falls back to the email.
func userAssignee(u *sentry.User) *sentry.Assignee {
	name := u.Name
	if name == "" {
		name = u.Email
	}
	return &sentry.Assignee{Type: "user", ID: u.ID, Name: name, Email: u.Email}
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// pythonType names a decoded JSON value's type as Django REST framework's
// messages do.
func pythonType(v any) string {
	switch v.(type) {
	case []any:
		return "list"
	case string:
		return "str"
	case bool:
		return "bool"
	case json.Number:
		return "int"
	case nil:
		return "NoneType"
	}
	return "dict"
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic("sentryfake: encode: " + err.Error()) // maps of plain values always encode
	}
	return b
}

// removeIssue deletes an issue, as a discard does; s.mu must be held.
func (s *Server) removeIssue(id string) {
	delete(s.issues, id)
	if i := slices.Index(s.order, id); i >= 0 {
		s.order = slices.Delete(s.order, i, i+1)
	}
}
