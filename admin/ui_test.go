package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/admin"
	"github.com/keyward/apikey/store/memstore"
)

// uiEnv is a Manager with the admin handler and page mounted under /v1,
// behind a toy session Authorizer: cookie "sid" names a user of one owner.
type uiEnv struct {
	t *testing.T
	m *apikey.Manager
	h http.Handler
}

var uiUsers = map[string]*admin.Principal{
	"alice-session": {ActorID: "alice", OwnerID: "org_1", Scopes: []string{admin.ScopeManage, "webhooks:*"}},
	"bob-session":   {ActorID: "bob", OwnerID: "org_2", Scopes: []string{admin.ScopeManage, "webhooks:*"}},
	"eve-session":   {ActorID: "eve", OwnerID: "org_1", Scopes: []string{"webhooks:read"}},
}

func newUIEnv(t *testing.T, ui admin.UIConfig) *uiEnv {
	m, err := apikey.New(memstore.New(), apikey.WithScopeVocabulary("webhooks:read", "webhooks:write", "billing:read", admin.ScopeManage))
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	h, err := admin.NewHandler(m, admin.WithUI(ui), admin.WithAuthorizer(func(r *http.Request) (*admin.Principal, error) {
		c, err := r.Cookie("sid")
		if err != nil {
			return nil, err
		}
		p, ok := uiUsers[c.Value]
		if !ok {
			return nil, errors.New("no such session")
		}
		cp := *p
		return &cp, nil
	}))
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/v1/", http.StripPrefix("/v1", h))
	return &uiEnv{t: t, m: m, h: mux}
}

// send makes a request as the session sid ("" for none); headers are
// name, value pairs.
func (e *uiEnv) send(method, path, sid, body string, headers ...string) *httptest.ResponseRecorder {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, "http://admin.example"+path, rd)
	if sid != "" {
		r.AddCookie(&http.Cookie{Name: "sid", Value: sid})
	}
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.Header.Set(headers[i], headers[i+1])
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

// csrf reads the session's token from the page's config.json.
func (e *uiEnv) csrf(sid string) string {
	w := e.send("GET", "/v1/ui/config.json", sid, "")
	require.Equal(e.t, http.StatusOK, w.Code, w.Body.String())
	var c struct {
		CSRFToken string `json:"csrf_token"`
	}
	require.NoError(e.t, json.Unmarshal(w.Body.Bytes(), &c))
	require.NotEmpty(e.t, c.CSRFToken)
	return c.CSRFToken
}

func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	var body struct {
		Error struct{ Code string } `json:"error"`
	}
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &body), w.Body.String())
	return body.Error.Code
}

func TestUICSRF(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, admin.UIConfig{SessionCookie: "sid"})
	token := e.csrf("alice-session")
	create := `{"name":"ci","scopes":["webhooks:read"]}`

	for _, tc := range []struct {
		name    string
		headers []string
	}{
		{"no token", nil},
		{"wrong token", []string{"X-CSRF-Token", "AAAA" + token[4:]}},
		{"another session's token", []string{"X-CSRF-Token", e.csrf("bob-session")}},
		{"cross-origin Origin", []string{"X-CSRF-Token", token, "Origin", "https://evil.example"}},
		{"cross-site fetch", []string{"X-CSRF-Token", token, "Sec-Fetch-Site", "cross-site"}},
	} {
		w := e.send("POST", "/v1/api-keys", "alice-session", create, tc.headers...)
		require.Equal(t, http.StatusForbidden, w.Code, "%s: %s", tc.name, w.Body.String())
		assert.Equal(t, "csrf_failed", errorCode(t, w), tc.name)
	}
	keys, err := e.m.List(context.Background(), apikey.ListOptions{})
	require.NoError(t, err)
	assert.Empty(t, keys, "nothing was created")

	// Same origin with the session's token: allowed, on every method.
	ok := []string{"X-CSRF-Token", token, "Origin", "http://admin.example", "Sec-Fetch-Site", "same-origin"}
	w := e.send("POST", "/v1/api-keys", "alice-session", create, ok...)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	var k struct{ ID, Key string }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &k))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))

	for _, rq := range []struct{ method, path, body string }{
		{"PATCH", "/v1/api-keys/" + k.ID, `{"disabled":true}`},
		{"POST", "/v1/api-keys/" + k.ID + "/rotate", `{"grace_period_seconds":0}`},
		{"DELETE", "/v1/api-keys/" + k.ID, ""},
	} {
		w := e.send(rq.method, rq.path, "alice-session", rq.body)
		assert.Equal(t, http.StatusForbidden, w.Code, "%s %s without a token", rq.method, rq.path)
	}
	w = e.send("PATCH", "/v1/api-keys/"+k.ID, "alice-session", `{"disabled":true}`, ok...)
	assert.Equal(t, http.StatusOK, w.Code, w.Body.String())
	w = e.send("DELETE", "/v1/api-keys/"+k.ID, "alice-session", "", ok...)
	assert.Equal(t, http.StatusOK, w.Code, w.Body.String())

	// Reads need no token.
	assert.Equal(t, http.StatusOK, e.send("GET", "/v1/api-keys", "alice-session", "").Code)
	// Without a session there is no token that works.
	w = e.send("POST", "/v1/api-keys", "", create, "X-CSRF-Token", token)
	assert.Equal(t, http.StatusForbidden, w.Code)
}

func TestUIHeaders(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, admin.UIConfig{SessionCookie: "sid"})
	for _, path := range []string{"/v1/ui/", "/v1/ui/app.js", "/v1/ui/app.css", "/v1/ui/config.json"} {
		w := e.send("GET", path, "alice-session", "")
		require.Equal(t, http.StatusOK, w.Code, path)
		h := w.Header()
		csp := h.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'self'", "script-src 'self'", "frame-ancestors 'none'",
			"base-uri 'none'", "form-action 'self'", "object-src 'none'"} {
			assert.Contains(t, csp, want, path)
		}
		assert.NotContains(t, csp, "unsafe-inline", path)
		assert.NotContains(t, csp, "unsafe-eval", path)
		assert.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), path)
		assert.Equal(t, "no-referrer", h.Get("Referrer-Policy"), path)
		assert.Equal(t, "no-store", h.Get("Cache-Control"), path)
		assert.Equal(t, "DENY", h.Get("X-Frame-Options"), path)
	}
	page := e.send("GET", "/v1/ui/", "alice-session", "")
	assert.Equal(t, "text/html; charset=utf-8", page.Header().Get("Content-Type"))
	html := page.Body.String()
	assert.Contains(t, html, `<script src="app.js" defer></script>`)
	assert.NotRegexp(t, `<script(?:\s[^>]*)?>[^<]`, html, "no inline script")
	assert.NotRegexp(t, `\son[a-z]+=`, html, "no inline event handlers")
	assert.NotContains(t, html, "style=", "no inline style")
	assert.Equal(t, "text/javascript; charset=utf-8", e.send("GET", "/v1/ui/app.js", "alice-session", "").Header().Get("Content-Type"))

	// /ui redirects to /ui/, relative to the mount point.
	w := e.send("GET", "/v1/ui", "alice-session", "")
	assert.Equal(t, http.StatusMovedPermanently, w.Code)
	assert.Equal(t, "ui/", w.Header().Get("Location"))
	// Only GET and HEAD; unknown files are 404.
	assert.Equal(t, http.StatusMethodNotAllowed, e.send("POST", "/v1/ui/", "alice-session", "{}").Code)
	assert.Equal(t, http.StatusNotFound, e.send("GET", "/v1/ui/ui/app.js", "alice-session", "").Code)
	assert.Equal(t, http.StatusNotFound, e.send("GET", "/v1/ui/missing.js", "alice-session", "").Code)
	// The API answers carry the headers too.
	w = e.send("GET", "/v1/api-keys", "alice-session", "")
	assert.Equal(t, "no-referrer", w.Header().Get("Referrer-Policy"))
	assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
}

func TestUIAuthorization(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, admin.UIConfig{SessionCookie: "sid"})
	for _, path := range []string{"/v1/ui/", "/v1/ui/app.js", "/v1/ui/config.json", "/v1/api-keys"} {
		assert.Equal(t, http.StatusUnauthorized, e.send("GET", path, "", "").Code, path)
		assert.Equal(t, http.StatusUnauthorized, e.send("GET", path, "forged-session", "").Code, path)
	}
	// A user without api_keys:read or :manage gets no page.
	assert.Equal(t, http.StatusForbidden, e.send("GET", "/v1/ui/", "eve-session", "").Code)
	assert.Equal(t, http.StatusForbidden, e.send("GET", "/v1/ui/config.json", "eve-session", "").Code)

	// With a LoginURL, the page redirects there; the rest still answers 401.
	withLogin := newUIEnv(t, admin.UIConfig{SessionCookie: "sid", LoginURL: "/login?next=keys"})
	w := withLogin.send("GET", "/v1/ui/", "", "")
	assert.Equal(t, http.StatusSeeOther, w.Code)
	assert.Equal(t, "/login?next=keys", w.Header().Get("Location"))
	assert.Equal(t, http.StatusUnauthorized, withLogin.send("GET", "/v1/ui/config.json", "", "").Code)

	// Another owner's user sees none of alice's keys.
	ok := func(sid string) []string {
		return []string{"X-CSRF-Token", e.csrf(sid), "Sec-Fetch-Site", "same-origin"}
	}
	w = e.send("POST", "/v1/api-keys", "alice-session", `{"name":"alice's"}`, ok("alice-session")...)
	require.Equal(t, http.StatusCreated, w.Code, w.Body.String())
	var k struct{ ID string }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &k))
	list := e.send("GET", "/v1/api-keys?status=all", "bob-session", "")
	require.Equal(t, http.StatusOK, list.Code)
	assert.NotContains(t, list.Body.String(), k.ID)
	assert.Equal(t, http.StatusNotFound, e.send("GET", "/v1/api-keys/"+k.ID, "bob-session", "").Code)
	assert.Equal(t, http.StatusNotFound, e.send("DELETE", "/v1/api-keys/"+k.ID, "bob-session", "", ok("bob-session")...).Code)
	events := e.send("GET", "/v1/audit-events?key_id="+k.ID, "bob-session", "")
	assert.NotContains(t, events.Body.String(), k.ID)
}

func TestUIConfig(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, admin.UIConfig{SessionCookie: "sid"})
	w := e.send("GET", "/v1/ui/config.json", "alice-session", "")
	require.Equal(t, http.StatusOK, w.Code)
	var c map[string]any
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &c))
	assert.Equal(t, []any{admin.ScopeManage, "webhooks:read", "webhooks:write"}, c["scopes"], "the vocabulary alice may grant: not billing:read")
	assert.Equal(t, true, c["can_manage"])
	assert.Equal(t, "alice", c["actor_id"])
	assert.Equal(t, []any{"live", "test"}, c["environments"])
	assert.NotEqual(t, e.csrf("alice-session"), e.csrf("bob-session"), "a token per session")
}

func TestUIPageEmbedsNoKey(t *testing.T) {
	t.Parallel()
	e := newUIEnv(t, admin.UIConfig{SessionCookie: "sid"})
	ok := []string{"X-CSRF-Token", e.csrf("alice-session"), "Sec-Fetch-Site", "same-origin"}
	w := e.send("POST", "/v1/api-keys", "alice-session", `{"name":"leak check","scopes":["webhooks:read"]}`, ok...)
	require.Equal(t, http.StatusCreated, w.Code)
	var k struct{ Key string }
	require.NoError(t, json.Unmarshal(w.Body.Bytes(), &k))
	require.NotEmpty(t, k.Key)
	pattern := keyPattern(t).String()
	for _, path := range []string{"/v1/ui/", "/v1/ui/app.js", "/v1/ui/app.css", "/v1/ui/config.json", "/v1/api-keys", "/v1/audit-events"} {
		body := e.send("GET", path, "alice-session", "").Body.String()
		assert.NotContains(t, body, k.Key[12:], path)
		assert.NotRegexp(t, strings.Trim(pattern, "^$"), body, "%s holds something shaped like a key", path)
	}
	// The script keeps keys out of storage and URLs.
	js := e.send("GET", "/v1/ui/app.js", "alice-session", "").Body.String()
	for _, banned := range []string{"localStorage", "sessionStorage", "document.cookie", "innerHTML", "eval(", "history.pushState"} {
		assert.NotContains(t, js, banned)
	}
}

func TestUIOptionErrors(t *testing.T) {
	t.Parallel()
	m, err := apikey.New(memstore.New())
	require.NoError(t, err)
	defer m.Close()
	auth := admin.WithAuthorizer(func(*http.Request) (*admin.Principal, error) { return nil, errors.New("no") })
	for name, opts := range map[string][]admin.Option{
		"no authorizer": {admin.WithUI(admin.UIConfig{SessionCookie: "sid"})},
		"no cookie":     {auth, admin.WithUI(admin.UIConfig{})},
		"short key":     {auth, admin.WithUI(admin.UIConfig{SessionCookie: "sid", CSRFKey: []byte("short")})},
		"bad login URL": {auth, admin.WithUI(admin.UIConfig{SessionCookie: "sid", LoginURL: "javascript:alert(1)"})},
		"bad origin":    {auth, admin.WithUI(admin.UIConfig{SessionCookie: "sid", TrustedOrigins: []string{"not an origin"}})},
	} {
		_, err := admin.NewHandler(m, opts...)
		assert.ErrorIs(t, err, apikey.ErrInvalidParams, name)
	}
	// A shared key makes tokens valid on every instance.
	key := []byte(strings.Repeat("k", 32))
	a := newUIEnv(t, admin.UIConfig{SessionCookie: "sid", CSRFKey: key})
	b := newUIEnv(t, admin.UIConfig{SessionCookie: "sid", CSRFKey: key})
	assert.Equal(t, a.csrf("alice-session"), b.csrf("alice-session"))
}
