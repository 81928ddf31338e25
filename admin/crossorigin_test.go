package admin_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/admin"
	"github.com/keyward/apikey/store/memstore"
)

// chunked is a body of unknown length (sent chunked), as a streamed Blob.
type chunked struct{ io.Reader }

// A cookie-based Authorizer mounted without WithUI (the docs' "second
// handler"): what a cross-site page can make a browser send is refused
// without effect (415 for a body that is not JSON, 403 for a cross-origin
// request); same-origin pages and API clients without those headers work.
func TestCrossSiteRequestsRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, memstore.New())
	sessions, err := admin.NewHandler(e.m, admin.WithCreateLimit(nil), admin.WithAuthorizer(func(r *http.Request) (*admin.Principal, error) {
		if c, err := r.Cookie("sid"); err != nil || c.Value != "alice" {
			return nil, http.ErrNoCookie
		}
		return &admin.Principal{ActorID: "alice", OwnerID: "org_1", Scopes: []string{admin.ScopeManage, "webhooks:*"}}, nil
	}))
	require.NoError(t, err)
	c := e.serve(sessions)
	ctx := context.Background()
	target := idOf(t, e, e.issue(apikey.CreateParams{OwnerID: "org_1", Scopes: []string{"webhooks:read"}}))
	count := func() int {
		keys, err := e.m.List(ctx, apikey.ListOptions{OwnerID: "org_1", IncludeRevoked: true})
		require.NoError(t, err)
		return len(keys)
	}
	keysBefore := count()
	cookie := []string{"Cookie", "sid=alice"}
	with := func(h ...string) []string { return append(append([]string{}, cookie...), h...) }
	create, rotate := "/api-keys", "/api-keys/"+target+"/rotate"
	createBody := `{"name":"planted","scopes":["webhooks:write"]}`

	for _, tc := range []struct {
		name, method, path string
		body               any
		headers            []string
		status             int
		code               string
	}{
		{"text/plain body", "POST", create, createBody, with("Content-Type", "text/plain;charset=UTF-8"), 415, "unsupported_media_type"},
		{"no content type (a Blob without a type)", "POST", create, createBody, cookie, 415, "unsupported_media_type"},
		{"no content type, chunked", "POST", create, chunked{strings.NewReader(createBody)}, cookie, 415, "unsupported_media_type"},
		{"form body", "POST", create, "name=planted", with("Content-Type", "application/x-www-form-urlencoded"), 415, "unsupported_media_type"},
		{"multipart body", "POST", create, "--x\r\n\r\n--x--", with("Content-Type", "multipart/form-data; boundary=x"), 415, "unsupported_media_type"},
		{"JSON of another charset", "POST", create, createBody, with("Content-Type", "application/json; charset=latin1"), 415, "unsupported_media_type"},
		{"rotate, text/plain body", "POST", rotate, `{"grace_period_seconds":0}`, with("Content-Type", "text/plain"), 415, "unsupported_media_type"},
		{"revoke, text/plain body", "DELETE", "/api-keys/" + target, `x`, with("Content-Type", "text/plain"), 415, "unsupported_media_type"},
		{"Sec-Fetch-Site: cross-site", "POST", create, createBody, with("Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"), 403, "csrf_failed"},
		{"Sec-Fetch-Site: same-site", "POST", create, createBody, with("Content-Type", "application/json", "Sec-Fetch-Site", "same-site"), 403, "csrf_failed"},
		{"cross-site text/plain", "POST", create, createBody, with("Content-Type", "text/plain", "Sec-Fetch-Site", "cross-site"), 403, "csrf_failed"},
		{"cross-site rotate without a body", "POST", rotate, nil, with("Sec-Fetch-Site", "cross-site"), 403, "csrf_failed"},
		{"cross-site revoke", "DELETE", "/api-keys/" + target, nil, with("Sec-Fetch-Site", "cross-site"), 403, "csrf_failed"},
		{"cross-site update", "PATCH", "/api-keys/" + target, `{"disabled":true}`, with("Content-Type", "application/json", "Sec-Fetch-Site", "cross-site"), 403, "csrf_failed"},
		{"Origin mismatch (no Sec-Fetch-Site)", "POST", create, createBody, with("Content-Type", "application/json", "Origin", "https://evil.example"), 403, "csrf_failed"},
		{"Origin mismatch, rotate", "POST", rotate, nil, with("Origin", "https://evil.example"), 403, "csrf_failed"},
	} {
		body := tc.body
		if r, ok := body.(chunked); ok {
			body = io.Reader(r)
		}
		a := c.doRaw(tc.method, tc.path, body, tc.headers...)
		require.Equal(t, tc.status, a.status, "%s: %s", tc.name, a.body)
		assert.Equal(t, tc.code, a.errCode(), tc.name)
	}
	assert.Equal(t, keysBefore, count(), "nothing was created")
	k, err := e.m.Get(ctx, target)
	require.NoError(t, err)
	assert.Equal(t, apikey.StatusActive, k.Status(k.CreatedAt), "neither rotated nor revoked nor disabled")
	assert.Empty(t, k.RotatedToID)

	// Same-origin pages work.
	for _, h := range [][]string{
		with("Content-Type", "application/json", "Sec-Fetch-Site", "same-origin", "Origin", c.srv.URL),
		with("Content-Type", "application/json; charset=utf-8", "Origin", c.srv.URL),
		with("Content-Type", "application/json", "Origin", "https://elsewhere.example", "Host", "elsewhere.example"),
	} {
		a := c.doRaw("POST", create, `{"name":"mine"}`, h...)
		require.Equal(t, http.StatusCreated, a.status, "%v: %s", h, a.body)
	}
	a := c.doRaw("POST", rotate, nil, with("Sec-Fetch-Site", "same-origin")...)
	require.Equal(t, http.StatusCreated, a.status, "a rotation without a body: %s", a.body)
}

// API clients, which send neither Sec-Fetch-Site nor Origin, are not
// affected; a refused request costs the caller's key no budget; and
// WithTrustedOrigins lets another origin in.
func TestAPIClientsAndTrustedOrigins(t *testing.T) {
	t.Parallel()
	e := newEnv(t, memstore.New(), admin.WithCreateLimit(nil), admin.WithTrustedOrigins("https://app.example"))
	c := e.serve(e.h)
	once := e.issue(apikey.CreateParams{OwnerID: "org_1", Scopes: []string{admin.ScopeManage}, RateLimit: apikey.PerHour(2)})
	for range 3 {
		a := c.do("POST", "/v1/api-keys", once, `{"name":"x"}`, "Content-Type", "text/plain")
		require.Equal(t, http.StatusUnsupportedMediaType, a.status, a.body)
		a = c.do("POST", "/v1/api-keys", once, map[string]any{"name": "x"}, "Sec-Fetch-Site", "cross-site")
		require.Equal(t, http.StatusForbidden, a.status, a.body)
	}
	a := c.do("POST", "/v1/api-keys", once, map[string]any{"name": "api client"})
	require.Equal(t, http.StatusCreated, a.status, "refusals spent no budget: %s", a.body)
	id := a.str("id")
	a = c.do("POST", "/v1/api-keys/"+id+"/rotate", once, nil)
	require.Equal(t, http.StatusCreated, a.status, "an empty body needs no Content-Type: %s", a.body)

	a = c.do("POST", "/v1/api-keys", e.manager, map[string]any{"name": "from the app"},
		"Sec-Fetch-Site", "cross-site", "Origin", "https://app.example")
	require.Equal(t, http.StatusCreated, a.status, "a trusted origin: %s", a.body)
	_, err := admin.NewHandler(e.m, admin.WithTrustedOrigins("not an origin"))
	require.ErrorIs(t, err, apikey.ErrInvalidParams)
	e.noLeaks()
}
