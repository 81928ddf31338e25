package admin_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/admin"
	"github.com/keyward/apikey/audit"
	"github.com/keyward/apikey/store/memstore"
	"github.com/keyward/apikey/store/sqlitestore"
)

// backends are the stores every handler test runs on.
var backends = []struct {
	name string
	open func(t *testing.T) apikey.Store
}{
	{"memstore", func(*testing.T) apikey.Store { return memstore.New() }},
	{"sqlite", func(t *testing.T) apikey.Store {
		s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "keys.db"))
		require.NoError(t, err)
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

// eachBackend runs fn as a parallel subtest per store.
func eachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Parallel()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, newEnv(t, b.open(t)))
		})
	}
}

// env is a Manager, its admin handler mounted under /v1, and keys to call
// it with.
type env struct {
	t       *testing.T
	m       *apikey.Manager
	h       http.Handler
	manager string // org_1, api_keys:manage webhooks:*
	reader  string // org_1, api_keys:read
	other   string // org_2, api_keys:manage
	service string // no owner: every owner's keys
	now     time.Time

	mu      sync.Mutex
	secrets []string // every key issued, for the leak scan
	bodies  []string // every answer that must not carry a key
}

func newEnv(t *testing.T, store apikey.Store, opts ...admin.Option) *env {
	return newEnvWith(t, store, nil, opts...)
}

// newEnvWith is newEnv with Manager options.
func newEnvWith(t *testing.T, store apikey.Store, mopts []apikey.Option, opts ...admin.Option) *env {
	m, err := apikey.New(store, mopts...)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	e := &env{t: t, m: m, now: time.Now()}
	e.h = e.mount(opts...)
	e.manager = e.issue(apikey.CreateParams{OwnerID: "org_1", Scopes: []string{admin.ScopeManage, "webhooks:*"}})
	e.reader = e.issue(apikey.CreateParams{OwnerID: "org_1", Scopes: []string{admin.ScopeRead}})
	e.other = e.issue(apikey.CreateParams{OwnerID: "org_2", Scopes: []string{admin.ScopeManage, "webhooks:*"}})
	e.service = e.issue(apikey.CreateParams{Scopes: []string{"*"}})
	return e
}

func (e *env) mount(opts ...admin.Option) http.Handler {
	h, err := admin.NewHandler(e.m, opts...)
	require.NoError(e.t, err)
	mux := http.NewServeMux()
	mux.Handle("/v1/", http.StripPrefix("/v1", h))
	return mux
}

// issue creates a key directly through the Manager.
func (e *env) issue(p apikey.CreateParams) string {
	if p.Name == "" {
		p.Name = "test"
	}
	_, secret, err := e.m.Create(context.Background(), p)
	require.NoError(e.t, err)
	e.keep(secret)
	return secret
}

func (e *env) keep(secret string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.secrets = append(e.secrets, secret)
}

// answer is a response, decoded.
type answer struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

// errCode and errMessage read the error shape.
func (a answer) errCode() string {
	m, _ := a.json["error"].(map[string]any)
	s, _ := m["code"].(string)
	return s
}

func (a answer) errMessage() string {
	m, _ := a.json["error"].(map[string]any)
	s, _ := m["message"].(string)
	return s
}

func (a answer) str(field string) string { s, _ := a.json[field].(string); return s }

// do sends a request with key as Bearer (none when empty). body is sent
// as is when a string, as JSON otherwise.
func (e *env) do(method, path, key string, body any, headers ...string) answer {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(e.t, err)
		rd = bytes.NewReader(raw)
	}
	req := httptest.NewRequest(method, path, rd)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	a := answer{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
	if strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") && a.body != "" {
		require.NoError(e.t, json.Unmarshal(rec.Body.Bytes(), &a.json), a.body)
	}
	if secret := a.str("key"); secret != "" && a.status == http.StatusCreated {
		e.keep(secret)
	} else {
		e.mu.Lock()
		e.bodies = append(e.bodies, a.body)
		e.mu.Unlock()
	}
	return a
}

// noLeaks checks that no answer but create's and rotate's carried a key,
// nor the audit log.
func (e *env) noLeaks() {
	e.t.Helper()
	evs, err := e.m.ListAudit(context.Background(), audit.Query{Limit: 1000})
	require.NoError(e.t, err)
	logged, err := json.Marshal(evs)
	require.NoError(e.t, err)
	e.mu.Lock()
	defer e.mu.Unlock()
	all := strings.Join(append(e.bodies, string(logged)), "\n")
	for _, s := range e.secrets {
		require.NotContains(e.t, all, s[12:], "a key leaked")
	}
}

// mustCreate creates a key through the API as the manager key.
func (e *env) mustCreate(body map[string]any) answer {
	e.t.Helper()
	a := e.do("POST", "/v1/api-keys", e.manager, body)
	require.Equal(e.t, http.StatusCreated, a.status, a.body)
	return a
}

// client sends requests to a handler over a real socket (an httptest
// server), as a remote caller would.
type client struct {
	e   *env
	srv *httptest.Server
}

func (e *env) serve(h http.Handler) *client {
	srv := httptest.NewServer(h)
	e.t.Cleanup(srv.Close)
	return &client{e: e, srv: srv}
}

// do is env.do over the socket. body: nil (none), a string (as is, no
// Content-Type unless given), []byte (likewise), or JSON.
func (c *client) do(method, path, key string, body any, headers ...string) answer {
	c.e.t.Helper()
	var rd io.Reader
	contentType := ""
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		raw, err := json.Marshal(b)
		require.NoError(c.e.t, err)
		rd, contentType = bytes.NewReader(raw), "application/json"
	}
	req, err := http.NewRequest(method, c.srv.URL+path, rd)
	require.NoError(c.e.t, err)
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		if headers[i] == "Host" {
			req.Host = headers[i+1]
			continue
		}
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := c.srv.Client().Do(req)
	require.NoError(c.e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(c.e.t, err)
	a := answer{status: resp.StatusCode, header: resp.Header, body: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") && len(raw) > 0 {
		require.NoError(c.e.t, json.Unmarshal(raw, &a.json), a.body)
	}
	if secret := a.str("key"); secret != "" && a.status == http.StatusCreated {
		c.e.keep(secret)
	} else {
		c.e.mu.Lock()
		c.e.bodies = append(c.e.bodies, a.body)
		c.e.mu.Unlock()
	}
	return a
}

// doRaw is do without a key: body as is (string, io.Reader or nil), only
// the headers given.
func (c *client) doRaw(method, path string, body any, headers ...string) answer {
	c.e.t.Helper()
	return c.do(method, path, "", body, headers...)
}

// keyPattern is the regular expression every key of the tests matches.
func keyPattern(t *testing.T) *regexp.Regexp {
	t.Helper()
	re, err := apikey.Pattern(apikey.DefaultPrefix)
	require.NoError(t, err)
	return re
}
