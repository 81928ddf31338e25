package admin

import (
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

const (
	defaultPageSize = 100
	maxPageSize     = 500
	maxCursorLen    = 255
)

// query is a request's query string, checked: only known parameters, each
// at most once.
type query url.Values

func queryOf(r *http.Request, known ...string) (query, *apiError) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, badRequest("query: malformed query string")
	}
	for name, vals := range v {
		switch {
		case !slices.Contains(known, name):
			if len(name) > 64 {
				return nil, badRequest("query: unknown parameter")
			}
			return nil, badRequest(strconv.Quote(name) + ": unknown query parameter")
		case len(vals) > 1:
			return nil, badRequest(name + ": given more than once")
		}
	}
	return query(v), nil
}

func (q query) get(name string) string { return url.Values(q).Get(name) }

func (q query) lookup(name string) (string, bool) {
	v, ok := q[name]
	if !ok {
		return "", false
	}
	return v[0], true
}

// limit is the page size: 1 to 500, default 100.
func (q query) limit() (int, *apiError) {
	s, ok := q.lookup("limit")
	if !ok {
		return defaultPageSize, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > maxPageSize {
		return 0, badRequest("limit: must be an integer from 1 to 500")
	}
	return n, nil
}

// cursor is the next_cursor of the previous page.
func (q query) cursor() (string, *apiError) {
	c := q.get("cursor")
	if len(c) > maxCursorLen {
		return "", badRequest("cursor: must be a next_cursor of a previous page")
	}
	return c, nil
}

// time reads an RFC 3339 time; zero when absent.
func (q query) time(name string) (time.Time, *apiError) {
	s, ok := q.lookup(name)
	if !ok {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, badRequest(name + ": must be an RFC 3339 time, e.g. 2026-01-02T15:04:05Z")
	}
	return t.UTC(), nil
}
