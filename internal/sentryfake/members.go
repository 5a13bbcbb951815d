package sentryfake

import (
	_ "embed"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"sentrybot/sentry"
)

// membersTemplate and teamsTemplate are the list examples of Sentry's
// OpenAPI description: a member with an account, then a pending invitation;
// two teams.
var (
	//go:embed examples/members.json
	membersTemplate []byte
	//go:embed examples/teams.json
	teamsTemplate []byte
)

// maxPerPage is the largest page Sentry's list endpoints serve.
const maxPerPage = 100

// NewMember returns an organization member with an account. The member id
// and the user id differ in Sentry, so both are asked for; role defaults to
// "member".
func NewMember(id, userID, email, name, role string) sentry.Member {
	if role == "" {
		role = "member"
	}
	return sentry.Member{
		ID: id, Email: email, Name: name, Role: role,
		User: &sentry.User{ID: userID, Name: name, Email: email, Username: email},
	}
}

// AddMember stores m, replacing a member with the same id, and returns what
// was stored: an empty ID gets the next free number, an empty Role is
// "member". A member with a User can be assigned issues by its user id.
func (s *Server) AddMember(m sentry.Member) sentry.Member {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m.ID == "" {
		m.ID = strconv.Itoa(nextNumericID(len(s.members), func(i int) string { return s.members[i].ID }))
	}
	if m.Role == "" {
		m.Role = "member"
	}
	if m.User != nil {
		u := *m.User // the caller's pointer must not alias the fake's state
		m.User = &u
	}
	if i := slices.IndexFunc(s.members, func(x sentry.Member) bool { return x.ID == m.ID }); i >= 0 {
		s.members[i] = m
	} else {
		s.members = append(s.members, m)
	}
	return m
}

// AddPendingInvite stores an invitation that has not been accepted: it has
// no user, so it cannot be assigned anything.
func (s *Server) AddPendingInvite(id, email string) sentry.Member {
	return s.AddMember(sentry.Member{ID: id, Email: email, Name: email, Role: "member", Pending: true})
}

// AddTeam stores t, replacing a team with the same id, and returns what was
// stored: an empty ID gets the next free number, an empty Slug is derived
// from Name and an empty Name is the slug.
func (s *Server) AddTeam(t sentry.Team) sentry.Team {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.ID == "" {
		t.ID = strconv.Itoa(nextNumericID(len(s.teams), func(i int) string { return s.teams[i].ID }))
	}
	if t.Slug == "" {
		t.Slug = slugify(t.Name)
	}
	if t.Name == "" {
		t.Name = t.Slug
	}
	if i := slices.IndexFunc(s.teams, func(x sentry.Team) bool { return x.ID == t.ID }); i >= 0 {
		s.teams[i] = t
	} else {
		s.teams = append(s.teams, t)
	}
	return t
}

func nextNumericID(n int, id func(int) string) int {
	next := 1
	for i := range n {
		if v, err := strconv.Atoi(id(i)); err == nil && v >= next {
			next = v + 1
		}
	}
	return next
}

// slugify makes a team slug from a name as Sentry does: lower case, runs
// of other characters become one hyphen.
func slugify(name string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' {
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			hyphen = false
			continue
		}
		hyphen = true
	}
	return b.String()
}

// memberByUserID finds the member with an account of that user id; s.mu
// must be held.
func (s *Server) memberByUserID(id string) *sentry.Member {
	for i := range s.members {
		if m := &s.members[i]; m.User != nil && m.User.ID == id {
			return m
		}
	}
	return nil
}

// listMembers answers GET /api/0/organizations/{org}/members/ like Sentry's
// OrganizationMemberIndexEndpoint: ordered by id, filtered by the query's
// email:, id:, user.id:, role:, isInvited: and free-text terms (an unknown
// key matches nothing), paginated by page.
func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	members := slices.Clone(s.members)
	s.mu.Unlock()
	slices.SortStableFunc(members, func(a, b sentry.Member) int { return compareIDs(a.ID, b.ID) })

	var text []string
	for _, tok := range tokenize(r.URL.Query().Get("query")) {
		if tok.key == "" {
			text = append(text, tok.value)
			continue
		}
		members = slices.DeleteFunc(members, func(m sentry.Member) bool { return !memberMatches(m, tok) })
	}
	if len(text) > 0 {
		words := strings.ToLower(strings.Join(text, " "))
		members = slices.DeleteFunc(members, func(m sentry.Member) bool {
			fields := []string{m.Email}
			if m.User != nil {
				fields = append(fields, m.User.Name, m.User.Username, m.User.Email)
			}
			return !slices.ContainsFunc(fields, func(f string) bool { return strings.Contains(strings.ToLower(f), words) })
		})
	}

	lo, hi, ok := s.offsetPage(w, r, len(members))
	if !ok {
		return
	}
	body := make([]any, 0, hi-lo)
	for _, m := range members[lo:hi] {
		body = append(body, memberBody(m))
	}
	writeJSON(w, http.StatusOK, body)
}

// getMember answers GET /api/0/organizations/{org}/members/{member_id}/.
func (s *Server) getMember(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("member_id")
	s.mu.Lock()
	i := slices.IndexFunc(s.members, func(m sentry.Member) bool { return m.ID == id })
	var m sentry.Member
	if i >= 0 {
		m = s.members[i]
	}
	s.mu.Unlock()
	if i < 0 {
		writeJSON(w, http.StatusNotFound, detail("The requested resource does not exist"))
		return
	}
	writeJSON(w, http.StatusOK, memberBody(m))
}

// RemoveMember deletes a member, as when someone leaves the organization.
func (s *Server) RemoveMember(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.members = slices.DeleteFunc(s.members, func(m sentry.Member) bool { return m.ID == id })
}

// SetMemberRole changes a member's organization role.
func (s *Server) SetMemberRole(id, role string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := range s.members {
		if s.members[i].ID == id {
			s.members[i].Role = role
		}
	}
}

func memberMatches(m sentry.Member, tok token) bool {
	values := tok.values()
	switch tok.key {
	case "email":
		return slices.ContainsFunc(values, func(v string) bool {
			return strings.EqualFold(v, m.Email) || (m.User != nil && strings.EqualFold(v, m.User.Email))
		})
	case "id":
		return slices.Contains(values, m.ID)
	case "user.id":
		return m.User != nil && slices.Contains(values, m.User.ID)
	case "role":
		return slices.Contains(values, m.Role)
	case "isInvited":
		return slices.Contains(values, "true") == (m.User == nil)
	}
	return false
}

// memberBody renders a member over the example member (or the example
// invitation) of Sentry's description.
func memberBody(m sentry.Member) map[string]any {
	var examples []map[string]any
	decodeInto(membersTemplate, &examples)
	body := examples[0]
	if m.User == nil {
		body = examples[1]
	}
	body["id"] = m.ID
	body["email"] = m.Email
	body["name"] = m.Name
	body["orgRole"] = m.Role
	body["pending"] = m.Pending
	body["expired"] = m.Expired
	if m.User != nil {
		body["user"] = userBody(*m.User)
		body["inviteStatus"] = "approved"
	} else {
		body["user"] = nil
		body["inviteStatus"] = "pending"
	}
	return body
}

// listTeams answers GET /api/0/organizations/{org}/teams/ like Sentry's
// OrganizationTeamsEndpoint: ordered by slug, filtered by the query's
// slug:, id: and free-text terms, without projects when detailed=0.
func (s *Server) listTeams(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	teams := slices.Clone(s.teams)
	s.mu.Unlock()
	slices.SortStableFunc(teams, func(a, b sentry.Team) int { return strings.Compare(a.Slug, b.Slug) })

	var text []string
	for _, tok := range tokenize(r.URL.Query().Get("query")) {
		switch tok.key {
		case "":
			text = append(text, tok.value)
		case "slug":
			teams = slices.DeleteFunc(teams, func(t sentry.Team) bool { return !slices.Contains(tok.values(), t.Slug) })
		case "id":
			for _, v := range tok.values() {
				if !isDigits(v) {
					writeJSON(w, http.StatusBadRequest, detail("Invalid id value"))
					return
				}
			}
			teams = slices.DeleteFunc(teams, func(t sentry.Team) bool { return !slices.Contains(tok.values(), t.ID) })
		default:
			teams = nil
		}
	}
	if len(text) > 0 {
		words := strings.ToLower(strings.Join(text, " "))
		teams = slices.DeleteFunc(teams, func(t sentry.Team) bool {
			return !strings.Contains(strings.ToLower(t.Name), words) && !strings.Contains(strings.ToLower(t.Slug), words)
		})
	}
	detailed := r.URL.Query().Get("detailed") != "0"

	lo, hi, ok := s.offsetPage(w, r, len(teams))
	if !ok {
		return
	}
	body := make([]any, 0, hi-lo)
	for _, t := range teams[lo:hi] {
		body = append(body, teamBody(t, detailed))
	}
	writeJSON(w, http.StatusOK, body)
}

// teamBody renders a team over the first team example of Sentry's
// description; detailed adds the (here empty) project and external team
// lists.
func teamBody(t sentry.Team, detailed bool) map[string]any {
	var examples []map[string]any
	decodeInto(teamsTemplate, &examples)
	body := examples[0]
	body["id"] = t.ID
	body["slug"] = t.Slug
	body["name"] = t.Name
	body["isMember"] = t.IsMember
	delete(body, "projects")
	delete(body, "externalTeams")
	if detailed {
		body["projects"] = []any{}
		body["externalTeams"] = []any{}
	}
	return body
}

// offsetPage picks the part of a list of n items a request asks for, as
// Sentry's OffsetPaginator does with cursors "<page size>:<page>:<is
// previous>", and sets the Link header. For a bad per_page or cursor it
// answers 400 itself and reports false.
func (s *Server) offsetPage(w http.ResponseWriter, r *http.Request, n int) (lo, hi int, ok bool) {
	perPage := s.opts.PageSize
	if v := r.URL.Query().Get("per_page"); v != "" {
		p, err := strconv.Atoi(v)
		switch {
		case err != nil || p < 1:
			writeJSON(w, http.StatusBadRequest, detail("Invalid per_page parameter."))
			return 0, 0, false
		case p > maxPerPage:
			writeJSON(w, http.StatusBadRequest, detail(fmt.Sprintf("Invalid per_page value. Cannot exceed %d.", maxPerPage)))
			return 0, 0, false
		}
		perPage = p
	}
	page := 0
	if c := r.URL.Query().Get("cursor"); c != "" {
		value, offset, _, err := parseCursor(c)
		if err != nil || offset < 0 {
			writeJSON(w, http.StatusBadRequest, detail("Invalid cursor parameter."))
			return 0, 0, false
		}
		page = offset
		if value > 0 && value <= maxPerPage {
			perPage = value // the cursor carries the page size it was made with
		}
	}
	lo = min(page*perPage, n)
	hi = min(lo+perPage, n)
	s.setLink(w, r,
		fmt.Sprintf("%d:%d:1", perPage, page-1), page > 0,
		fmt.Sprintf("%d:%d:0", perPage, page+1), hi < n)
	return lo, hi, true
}

// parseCursor reads Sentry's "<value>:<offset>:<is previous>" cursor.
func parseCursor(c string) (value, offset int, prev bool, err error) {
	parts := strings.Split(c, ":")
	if len(parts) != 3 {
		return 0, 0, false, fmt.Errorf("cursor %q has %d parts", c, len(parts))
	}
	v, err := strconv.ParseFloat(parts[0], 64)
	if err != nil {
		return 0, 0, false, err
	}
	if offset, err = strconv.Atoi(parts[1]); err != nil {
		return 0, 0, false, err
	}
	p, err := strconv.Atoi(parts[2])
	if err != nil {
		return 0, 0, false, err
	}
	return int(v), offset, p != 0, nil
}

// setLink writes the Link header as Sentry's build_cursor_link does: both
// links always, the request's query without its cursor, then the cursor.
func (s *Server) setLink(w http.ResponseWriter, r *http.Request, prev string, prevResults bool, next string, nextResults bool) {
	q := r.URL.Query()
	q.Del("cursor")
	base := s.url + r.URL.Path + "?" + q.Encode()
	link := func(rel, cursor string, results bool) string {
		return fmt.Sprintf(`<%s&cursor=%s>; rel="%s"; results="%t"; cursor="%s"`, base, cursor, rel, results, cursor)
	}
	w.Header().Set("Link", link("previous", prev, prevResults)+", "+link("next", next, nextResults))
}

// compareIDs orders numeric ids by value and others as strings.
func compareIDs(a, b string) int {
	x, errA := strconv.ParseInt(a, 10, 64)
	y, errB := strconv.ParseInt(b, 10, 64)
	if errA == nil && errB == nil {
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
	return strings.Compare(a, b)
}
