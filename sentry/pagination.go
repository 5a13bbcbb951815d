package sentry

import (
	"context"
	"net/http"
	"net/url"
	"strings"
)

// link is one entry of Sentry's Link header, e.g.
//
//	<https://sentry.io/api/0/organizations/acme/issues/?&cursor=0:100:0>; rel="next"; results="true"; cursor="0:100:0"
//
// Sentry always sends both rel="previous" and rel="next"; results="false"
// on "next" means there is nothing more to fetch.
type link struct {
	URL     string
	Rel     string
	Results bool
	Cursor  string
}

// parseLinkHeader parses an RFC 8288 Link header value as Sentry writes it.
// Malformed trailing input is ignored; what parsed before it is returned.
func parseLinkHeader(v string) []link {
	var links []link
	p := linkParser{s: v}
	for {
		p.skip(" \t,")
		if p.done() || p.peek() != '<' {
			return links
		}
		p.i++
		end := strings.IndexByte(p.s[p.i:], '>')
		if end < 0 {
			return links
		}
		l := link{URL: strings.TrimSpace(p.s[p.i : p.i+end])}
		p.i += end + 1
		for {
			p.skip(" \t")
			if p.done() || p.peek() != ';' {
				break
			}
			p.i++
			p.skip(" \t")
			name := strings.ToLower(strings.TrimSpace(p.until("=;,")))
			var value string
			if !p.done() && p.peek() == '=' {
				p.i++
				p.skip(" \t")
				value = p.value()
			}
			switch name {
			case "rel":
				l.Rel = value
			case "results":
				l.Results = strings.EqualFold(value, "true")
			case "cursor":
				l.Cursor = value
			}
		}
		if l.Cursor == "" {
			if u, err := url.Parse(l.URL); err == nil {
				l.Cursor = u.Query().Get("cursor")
			}
		}
		links = append(links, l)
	}
}

type linkParser struct {
	s string
	i int
}

func (p *linkParser) done() bool { return p.i >= len(p.s) }
func (p *linkParser) peek() byte { return p.s[p.i] }

func (p *linkParser) skip(chars string) {
	for !p.done() && strings.IndexByte(chars, p.peek()) >= 0 {
		p.i++
	}
}

func (p *linkParser) until(stops string) string {
	start := p.i
	for !p.done() && strings.IndexByte(stops, p.peek()) < 0 {
		p.i++
	}
	return p.s[start:p.i]
}

// value reads a token or a quoted string (with backslash escapes).
func (p *linkParser) value() string {
	if p.done() || p.peek() != '"' {
		return strings.TrimSpace(p.until(";,"))
	}
	p.i++
	var b strings.Builder
	for !p.done() {
		c := p.peek()
		p.i++
		switch {
		case c == '\\' && !p.done():
			b.WriteByte(p.peek())
			p.i++
		case c == '"':
			return b.String()
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// nextCursor reports the cursor of the next page and whether that page has
// results, from a response's Link header.
func nextCursor(h http.Header) (cursor string, more bool) {
	for _, v := range h.Values("Link") {
		for _, l := range parseLinkHeader(v) {
			if l.Rel == "next" {
				return l.Cursor, l.Results && l.Cursor != ""
			}
		}
	}
	return "", false
}

// listAll fetches up to maxPages pages of a cursor-paginated list endpoint
// and concatenates them. It reports whether it stopped early because of the
// page limit, so callers can say "showing the first N".
func listAll[T any](ctx context.Context, c *Client, op, path string, query url.Values, maxPages int) (items []T, truncated bool, err error) {
	q := url.Values{}
	for k, vs := range query {
		q[k] = append([]string(nil), vs...)
	}
	seen := map[string]bool{}
	for page := 0; page < maxPages; page++ {
		var batch []T
		h, err := c.do(ctx, op, http.MethodGet, path, q, nil, &batch)
		if err != nil {
			return nil, false, err
		}
		items = append(items, batch...)
		cursor, more := nextCursor(h)
		if !more || seen[cursor] {
			// A repeated cursor would loop forever; treat it as the end.
			return items, false, nil
		}
		seen[cursor] = true
		q.Set("cursor", cursor)
	}
	return items, true, nil
}
