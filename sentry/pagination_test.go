package sentry

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
)

func TestParseLinkHeader(t *testing.T) {
	tests := []struct {
		name  string
		value string
		want  []link
	}{
		{
			// As Sentry writes it for a first page (base.py build_cursor_link).
			name: "SentryFirstPage",
			value: `<https://sentry.io/api/0/organizations/acme/issues/?&cursor=1735000000000:0:1>; rel="previous"; results="false"; cursor="1735000000000:0:1", ` +
				`<https://sentry.io/api/0/organizations/acme/issues/?&cursor=1735000000000:100:0>; rel="next"; results="true"; cursor="1735000000000:100:0"`,
			want: []link{
				{URL: "https://sentry.io/api/0/organizations/acme/issues/?&cursor=1735000000000:0:1", Rel: "previous", Results: false, Cursor: "1735000000000:0:1"},
				{URL: "https://sentry.io/api/0/organizations/acme/issues/?&cursor=1735000000000:100:0", Rel: "next", Results: true, Cursor: "1735000000000:100:0"},
			},
		},
		{
			name:  "CommaInURLAndQuotedValue",
			value: `<https://x/api/0/?query=is:unresolved,level:error&cursor=0:100:0>; rel="next"; results="true"; title="a, \"b\""; cursor="0:100:0"`,
			want:  []link{{URL: "https://x/api/0/?query=is:unresolved,level:error&cursor=0:100:0", Rel: "next", Results: true, Cursor: "0:100:0"}},
		},
		{
			name:  "CursorOnlyInURLUnquotedParams",
			value: `<https://x/api/0/?cursor=5:1:0>;rel=next;results=TRUE`,
			want:  []link{{URL: "https://x/api/0/?cursor=5:1:0", Rel: "next", Results: true, Cursor: "5:1:0"}},
		},
		{
			name:  "MalformedTail",
			value: `<https://x/a>; rel="previous"; results="false"; cursor="1:0:1", <https://x/b; rel="next"`,
			want:  []link{{URL: "https://x/a", Rel: "previous", Cursor: "1:0:1"}},
		},
		{name: "Empty", value: "", want: nil},
		{name: "Garbage", value: "not a link", want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseLinkHeader(tt.value)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("parseLinkHeader:\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNextCursor(t *testing.T) {
	h := http.Header{}
	h.Set("Link", `<u?&cursor=0:0:1>; rel="previous"; results="false"; cursor="0:0:1", <u?&cursor=0:100:0>; rel="next"; results="true"; cursor="0:100:0"`)
	if c, more := nextCursor(h); c != "0:100:0" || !more {
		t.Fatalf("nextCursor = %q, %v", c, more)
	}
	h.Set("Link", `<u?&cursor=0:100:1>; rel="previous"; results="true"; cursor="0:100:1", <u?&cursor=0:200:0>; rel="next"; results="false"; cursor="0:200:0"`)
	if _, more := nextCursor(h); more {
		t.Fatal(`results="false" on next must end paging`)
	}
	if _, more := nextCursor(http.Header{}); more {
		t.Fatal("no Link header must end paging")
	}
}

// pagedServer serves items 0..total-1 in pages of size, with Sentry's Link
// header; the cursor is "0:<offset>:0".
func pagedServer(t *testing.T, total, size int, requests *atomic.Int32) *Client {
	return newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if r.URL.Query().Get("query") != "is:unresolved" {
			http.Error(w, `{"detail":"query lost"}`, http.StatusBadRequest)
			return
		}
		offset := 0
		if c := r.URL.Query().Get("cursor"); c != "" {
			parts := strings.Split(c, ":")
			offset, _ = strconv.Atoi(parts[1])
		}
		end := min(offset+size, total)
		var items []string
		for i := offset; i < end; i++ {
			items = append(items, fmt.Sprintf(`{"id":"%d"}`, i))
		}
		base := "http://" + r.Host + r.URL.Path + "?query=is%3Aunresolved&cursor="
		prev := fmt.Sprintf("0:%d:1", max(offset-size, 0))
		next := fmt.Sprintf("0:%d:0", end)
		w.Header().Set("Link", fmt.Sprintf(`<%s%s>; rel="previous"; results="%t"; cursor="%s", <%s%s>; rel="next"; results="%t"; cursor="%s"`,
			base, prev, offset > 0, prev, base, next, end < total, next))
		fmt.Fprintf(w, "[%s]", strings.Join(items, ","))
	})
}

func TestListAll(t *testing.T) {
	type item struct {
		ID string `json:"id"`
	}
	query := map[string][]string{"query": {"is:unresolved"}}

	t.Run("AllPages", func(t *testing.T) {
		var n atomic.Int32
		c := pagedServer(t, 25, 10, &n)
		items, truncated, err := listAll[item](context.Background(), c, "list issues", "/api/0/organizations/acme/issues/", query, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 25 || items[0].ID != "0" || items[24].ID != "24" || truncated {
			t.Fatalf("got %d items (truncated %v): %v", len(items), truncated, items)
		}
		if n.Load() != 3 {
			t.Fatalf("%d requests, want 3", n.Load())
		}
		if len(query["cursor"]) != 0 {
			t.Fatal("listAll modified the caller's query")
		}
	})
	t.Run("PageLimit", func(t *testing.T) {
		var n atomic.Int32
		c := pagedServer(t, 25, 10, &n)
		items, truncated, err := listAll[item](context.Background(), c, "list issues", "/api/0/organizations/acme/issues/", query, 2)
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 20 || !truncated || n.Load() != 2 {
			t.Fatalf("got %d items, truncated %v, %d requests", len(items), truncated, n.Load())
		}
	})
	t.Run("RepeatedCursorStops", func(t *testing.T) {
		var n atomic.Int32
		c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			n.Add(1)
			w.Header().Set("Link", `<u>; rel="previous"; results="false"; cursor="0:0:1", <u>; rel="next"; results="true"; cursor="0:1:0"`)
			w.Write([]byte(`[{"id":"1"}]`))
		})
		items, _, err := listAll[item](context.Background(), c, "list", "/api/0/x/", nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		if n.Load() != 2 || len(items) != 2 {
			t.Fatalf("%d requests, %d items; want 2 and 2", n.Load(), len(items))
		}
	})
	t.Run("ErrorMidway", func(t *testing.T) {
		var n atomic.Int32
		c := newTestClient(t, func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 2 {
				w.WriteHeader(http.StatusTooManyRequests)
				return
			}
			w.Header().Set("Link", `<u>; rel="next"; results="true"; cursor="0:1:0"`)
			w.Write([]byte(`[{"id":"1"}]`))
		})
		_, _, err := listAll[item](context.Background(), c, "list", "/api/0/x/", nil, 100)
		if e := asError(t, err); e.Kind != KindRateLimited || e.Op != "list" {
			t.Fatalf("got %v", err)
		}
	})
}
