package sentry

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestResolveShortID(t *testing.T) {
	var mu sync.Mutex
	var path string
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		path = r.URL.Path
		mu.Unlock()
		if r.URL.Path != "/api/0/organizations/acme/shortids/PUMP-STATION-1/" {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"detail": "The requested resource does not exist"}`))
			return
		}
		// The example of Sentry's OpenAPI description, shortened.
		w.Write([]byte(`{"group": {"id": "1", "shortId": "PUMP-STATION-1", "title": "This is an example Python exception",
			"culprit": "raven.scripts.runner in main", "count": "1", "userCount": 0, "status": "unresolved", "substatus": "ongoing",
			"statusDetails": {}, "level": "error", "assignedTo": {"id": "1", "name": "John Doe", "email": "john@example.com", "type": "user"},
			"project": {"id": "2", "name": "Pump Station", "slug": "pump-station", "platform": "python"}},
			"groupId": "1", "organizationSlug": "the-interstellar-jurisdiction", "projectSlug": "pump-station", "shortId": "PUMP-STATION-1"}`))
	})
	is, err := c.ResolveShortID(context.Background(), "acme", "PUMP-STATION-1")
	if err != nil {
		t.Fatal(err)
	}
	if is.ID != "1" || is.ShortID != "PUMP-STATION-1" || is.Project.Slug != "pump-station" || is.AssignedTo == nil || is.AssignedTo.Email != "john@example.com" {
		t.Fatalf("issue %+v", is)
	}
	mu.Lock()
	if path != "/api/0/organizations/acme/shortids/PUMP-STATION-1/" {
		t.Errorf("path %q", path)
	}
	mu.Unlock()

	if _, err := c.ResolveShortID(context.Background(), "acme", "NOPE-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown short id: %v", err)
	}
	if _, err := c.ResolveShortID(context.Background(), "acme", "A B"); !errors.Is(err, ErrInvalid) {
		t.Errorf("bad short id: %v", err)
	}
}

func TestResolveShortID_NoGroup(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"shortId": "X-1"}`)) })
	_, err := c.ResolveShortID(context.Background(), "acme", "X-1")
	if e := asError(t, err); e.Kind != KindBadResponse {
		t.Fatalf("got %v", err)
	}
}

func TestSearchIssues_Request(t *testing.T) {
	tests := []struct {
		name string
		q    IssueQuery
		want url.Values
	}{
		{"Defaults", IssueQuery{}, url.Values{"query": {""}, "limit": {"10"}, "sort": {"date"}}},
		{"Everything", IssueQuery{Query: "is:unresolved level:error", Projects: []string{"1", "", "42"}, Cursor: "0:10:0", Limit: 25, Sort: "freq"},
			url.Values{"query": {"is:unresolved level:error"}, "limit": {"25"}, "sort": {"freq"}, "project": {"1", "42"}, "cursor": {"0:10:0"}}},
		{"LimitCapped", IssueQuery{Limit: 1000}, url.Values{"query": {""}, "limit": {"100"}, "sort": {"date"}}},
		{"NegativeLimit", IssueQuery{Limit: -3}, url.Values{"query": {""}, "limit": {"10"}, "sort": {"date"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var got url.Values
			var path string
			c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got, path = r.URL.Query(), r.URL.Path
				mu.Unlock()
				sentryLink(w, r, "0:0:1", "0:10:0", false, false)
				w.Write([]byte(`[]`))
			})
			page, err := c.SearchIssues(context.Background(), "acme", tt.q)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if path != "/api/0/organizations/acme/issues/" {
				t.Errorf("path %q", path)
			}
			if !equalValues(got, tt.want) {
				t.Errorf("query\n got %v\nwant %v", got, tt.want)
			}
			if page.Issues == nil || len(page.Issues) != 0 || page.NextCursor != "" {
				t.Errorf("page %+v", page)
			}
		})
	}
}

func equalValues(a, b url.Values) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestSearchIssues_Cursor walks three pages the way Sentry serves them:
// "next" is always in the Link header, with results="false" on the last page.
func TestSearchIssues_Cursor(t *testing.T) {
	var all []json.RawMessage
	var single map[string]any
	if err := json.Unmarshal(exampleIssue(t), &single); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 5; i++ {
		single["id"] = strings.Repeat("1", i)
		b, _ := json.Marshal(single)
		all = append(all, b)
	}
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		offset := map[string]int{"": 0, "0:2:0": 2, "0:4:0": 4}[r.URL.Query().Get("cursor")]
		end := min(offset+2, len(all))
		next := "0:" + string(rune('0'+offset+2)) + ":0"
		prev := "0:" + string(rune('0'+max(offset-2, 0))) + ":1"
		sentryLink(w, r, prev, next, offset > 0, end < len(all))
		body, _ := json.Marshal(all[offset:end])
		w.Write(body)
	})
	var ids []string
	q := IssueQuery{Limit: 2}
	for range 5 {
		page, err := c.SearchIssues(context.Background(), "acme", q)
		if err != nil {
			t.Fatal(err)
		}
		for _, is := range page.Issues {
			ids = append(ids, is.ID)
		}
		if page.NextCursor == "" {
			break
		}
		q.Cursor = page.NextCursor
	}
	if want := []string{"1", "11", "111", "1111", "11111"}; !slices.Equal(ids, want) {
		t.Fatalf("ids %v, want %v", ids, want)
	}
	if q.Cursor != "0:4:0" {
		t.Fatalf("last cursor used %q", q.Cursor)
	}
}

func TestSearchIssues_BadQuery(t *testing.T) {
	c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		w.Write([]byte(`{"detail": "Invalid search query: unsupported key \"foo\""}`))
	})
	_, err := c.SearchIssues(context.Background(), "acme", IssueQuery{Query: "foo:bar"})
	if e := asError(t, err); e.Kind != KindInvalid || !strings.Contains(e.Detail, "Invalid search query") || e.Op != "search issues" {
		t.Fatalf("got %+v", e)
	}
}
