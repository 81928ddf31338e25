// Package adaptertest checks a router built around apikey's middleware:
// the same answers whatever the router.
package adaptertest

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// Run builds the router with newRouter and checks that /health is public,
// that /webhooks answers 401 without a key, 200 with one (the handler sees
// the key) and 403 when the key lacks the route's scope, over a real
// socket.
func Run(t *testing.T, newRouter func(*apikey.Manager) http.Handler) {
	t.Helper()
	m, err := apikey.New(memstore.New())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	create := func(name, scope string) string {
		_, key, err := m.Create(context.Background(), apikey.CreateParams{Name: name, Scopes: []string{scope}})
		if err != nil {
			t.Fatal(err)
		}
		return key
	}
	reader, writer := create("reader", "webhooks:read"), create("writer", "webhooks:write")

	srv := httptest.NewServer(newRouter(m))
	t.Cleanup(srv.Close)
	for _, tc := range []struct {
		name, method, path, header, value string
		status                            int
		body, challenge                   string
	}{
		{"public", "GET", "/health", "", "", 200, "ok", ""},
		{"no key", "GET", "/webhooks", "", "", 401, `{"error":{"code":"unauthorized","message":"Invalid or missing API key"}}`, `Bearer realm="api"`},
		{"bad key", "GET", "/webhooks", "X-API-Key", "sk_live_nope", 401, `{"error":{"code":"unauthorized","message":"Invalid or missing API key"}}`, `Bearer realm="api", error="invalid_token"`},
		{"bearer", "GET", "/webhooks", "Authorization", "Bearer " + reader, 200, "webhooks of reader", ""},
		{"x-api-key", "GET", "/webhooks", "X-API-Key", reader, 200, "webhooks of reader", ""},
		{"scope missing", "POST", "/webhooks", "Authorization", "Bearer " + reader, 403,
			`{"error":{"code":"forbidden","message":"API key does not have access to this resource"}}`,
			`Bearer realm="api", error="insufficient_scope", scope="webhooks:write"`},
		{"scope granted", "POST", "/webhooks", "Authorization", "Bearer " + writer, 200, "webhooks of writer", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.header != "" {
				req.Header.Set(tc.header, tc.value)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			body, _ := io.ReadAll(res.Body)
			if res.StatusCode != tc.status || string(body) != tc.body {
				t.Errorf("got %d %q, want %d %q", res.StatusCode, body, tc.status, tc.body)
			}
			if got := res.Header.Get("WWW-Authenticate"); got != tc.challenge {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
			}
		})
	}
}
