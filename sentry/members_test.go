package sentry

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"sync"
	"testing"
)

// memberPage1 and memberPage2 follow the "List an Organization's Members"
// example of Sentry's OpenAPI description: a member with an account, then a
// pending invitation whose user is null.
const memberPage1 = `[{"id": "57377908164", "email": "sirpenguin@antarcticarocks.com", "name": "Sir Penguin",
  "user": {"id": "280094367316", "name": "Sir Penguin", "username": "sirpenguin@antarcticarocks.com",
    "email": "sirpenguin@antarcticarocks.com", "isActive": true, "emails": []},
  "orgRole": "member", "pending": false, "expired": false, "flags": {"sso:linked": false},
  "dateCreated": "2021-07-06T21:13:01.120263Z", "inviteStatus": "approved", "inviterName": null}]`

const memberPage2 = `[{"id": "57377908165", "email": "rockhopper@antarcticarocks.com", "name": "Rockhopper", "user": null,
  "orgRole": "member", "pending": true, "expired": false, "flags": {},
  "dateCreated": "2021-07-07T21:13:01.120263Z", "inviteStatus": "pending", "inviterName": "maininviter@antarcticarocks.com"}]`

// sentryLink writes a Link header the way Sentry's paginate does.
func sentryLink(w http.ResponseWriter, r *http.Request, prev, next string, prevResults, nextResults bool) {
	q := r.URL.Query()
	q.Del("cursor")
	base := "http://" + r.Host + r.URL.Path + "?" + q.Encode()
	w.Header().Set("Link",
		`<`+base+`&cursor=`+prev+`>; rel="previous"; results="`+boolText(prevResults)+`"; cursor="`+prev+`", `+
			`<`+base+`&cursor=`+next+`>; rel="next"; results="`+boolText(nextResults)+`"; cursor="`+next+`"`)
}

func boolText(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func TestMembers_PaginatesAndDecodes(t *testing.T) {
	var mu sync.Mutex
	var queries []url.Values
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.Query())
		mu.Unlock()
		if r.URL.Path != "/api/0/organizations/acme/members/" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		// OffsetPaginator cursors: <page size>:<page>:<is previous>.
		switch r.URL.Query().Get("cursor") {
		case "":
			sentryLink(w, r, "100:-1:1", "100:1:0", false, true)
			w.Write([]byte(memberPage1))
		case "100:1:0":
			sentryLink(w, r, "100:0:1", "100:2:0", true, false)
			w.Write([]byte(memberPage2))
		default:
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	members, err := c.Members(context.Background(), "acme", "email:sirpenguin@antarcticarocks.com")
	if err != nil {
		t.Fatal(err)
	}
	want := []Member{
		{ID: "57377908164", Email: "sirpenguin@antarcticarocks.com", Name: "Sir Penguin", Role: "member",
			User: &User{ID: "280094367316", Name: "Sir Penguin", Email: "sirpenguin@antarcticarocks.com", Username: "sirpenguin@antarcticarocks.com"}},
		{ID: "57377908165", Email: "rockhopper@antarcticarocks.com", Name: "Rockhopper", Role: "member", Pending: true},
	}
	if !reflect.DeepEqual(members, want) {
		t.Fatalf("members\n got %+v\nwant %+v", members, want)
	}
	if members[1].User != nil {
		t.Fatal("a pending invitation must have no user")
	}
	if len(queries) != 2 {
		t.Fatalf("%d requests, want 2", len(queries))
	}
	for i, q := range queries {
		if q.Get("query") != "email:sirpenguin@antarcticarocks.com" {
			t.Errorf("request %d lost the query: %v", i, q)
		}
	}
	if queries[0].Has("cursor") || queries[1].Get("cursor") != "100:1:0" {
		t.Errorf("cursors %q then %q", queries[0].Get("cursor"), queries[1].Get("cursor"))
	}
}

func TestMembers_EmptyQueryAndCap(t *testing.T) {
	var mu sync.Mutex
	var calls int
	var sawQuery bool
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		sawQuery = sawQuery || r.URL.Query().Has("query")
		mu.Unlock()
		page := r.URL.Query().Get("cursor")
		// Every page claims there is another: the client must stop on its own.
		sentryLink(w, r, "100:-1:1", "100:"+page+"x:0", false, true)
		w.Write([]byte(memberPage1))
	})
	members, err := c.Members(context.Background(), "acme", "")
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != maxListPages || len(members) != maxListPages {
		t.Fatalf("%d calls, %d members; want the %d-page cap", calls, len(members), maxListPages)
	}
	if sawQuery {
		t.Fatal("an empty query must not be sent")
	}
}

func TestTeams(t *testing.T) {
	var mu sync.Mutex
	var query url.Values
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		query = r.URL.Query()
		mu.Unlock()
		if r.URL.Path != "/api/0/organizations/acme/teams/" {
			http.NotFound(w, r)
			return
		}
		sentryLink(w, r, "100:-1:1", "100:1:0", false, false)
		w.Write([]byte(`[{"id": "48531", "slug": "ancient-gabelers", "name": "Ancient Gabelers", "dateCreated": "2018-11-06T21:20:08.115Z",
			"isMember": false, "teamRole": null, "flags": {"idp:provisioned": false}, "access": ["team:read"], "hasAccess": true,
			"isPending": false, "memberCount": 2, "avatar": {"avatarType": "letter_avatar", "avatarUuid": null, "avatarUrl": null}},
			{"id": "100253", "slug": "powerful-abolitionist", "name": "Powerful Abolitionist", "isMember": true}]`))
	})
	teams, err := c.Teams(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	want := []Team{{ID: "48531", Slug: "ancient-gabelers", Name: "Ancient Gabelers"}, {ID: "100253", Slug: "powerful-abolitionist", Name: "Powerful Abolitionist", IsMember: true}}
	if !reflect.DeepEqual(teams, want) {
		t.Fatalf("teams %+v", teams)
	}
	mu.Lock()
	defer mu.Unlock()
	if query.Get("detailed") != "0" {
		t.Errorf("query %v, want detailed=0", query)
	}
	if _, err := c.Teams(context.Background(), "a/b"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad org: %v", err)
	}
}
