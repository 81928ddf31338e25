package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// KeyFromRequest finds the key the middleware would find, and fails where
// it answers 400 or 401 without looking at a key.
func TestKeyFromRequestFollowsTheMiddleware(t *testing.T) {
	t.Parallel()
	m := newManager(t, memstore.New())
	_, key := create(t, m, apikey.CreateParams{Name: "k"})
	mw := m.Middleware()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for _, tc := range []struct {
		name    string
		headers [][2]string
		want    string
		wantErr error
		status  int // the middleware's answer
	}{
		{"bearer", [][2]string{{"Authorization", "Bearer " + key}}, key, nil, 200},
		{"scheme in any case", [][2]string{{"Authorization", "bEaReR " + key}}, key, nil, 200},
		{"several spaces", [][2]string{{"Authorization", "Bearer   " + key}}, key, nil, 200},
		{"optional whitespace", [][2]string{{"Authorization", " \tBearer " + key + " \t"}}, key, nil, 200},
		{"X-API-Key", [][2]string{{"X-API-Key", key}}, key, nil, 200},
		{"X-API-Key with whitespace", [][2]string{{"X-API-Key", "\t" + key + " "}}, key, nil, 200},
		{"bearer, not a key", [][2]string{{"Authorization", "Bearer sk_live_nope"}}, "sk_live_nope", nil, 401},
		{"none", nil, "", apikey.ErrNoCredentials, 401},
		{"another scheme", [][2]string{{"Authorization", "Basic " + key}}, "", apikey.ErrNoCredentials, 401},
		{"bearer then a tab", [][2]string{{"Authorization", "Bearer\t" + key}}, "", apikey.ErrNoCredentials, 401},
		{"Bearerx", [][2]string{{"Authorization", "Bearerx " + key}}, "", apikey.ErrNoCredentials, 401},
		{"both headers", [][2]string{{"Authorization", "Bearer " + key}, {"X-API-Key", key}}, "", apikey.ErrDuplicateCredentials, 400},
		{"Authorization twice", [][2]string{{"Authorization", "Bearer " + key}, {"Authorization", "Bearer " + key}}, "", apikey.ErrDuplicateCredentials, 400},
		{"X-API-Key twice", [][2]string{{"X-API-Key", key}, {"X-API-Key", key}}, "", apikey.ErrDuplicateCredentials, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, h := range tc.headers {
				r.Header.Add(h[0], h[1])
			}
			got, err := apikey.KeyFromRequest(r)
			if got != tc.want || !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Errorf("KeyFromRequest = %.20q, %v; want %.20q, %v", got, err, tc.want, tc.wantErr)
			}
			w := httptest.NewRecorder()
			mw.ServeHTTP(w, r)
			if w.Code != tc.status {
				t.Errorf("the middleware answers %d, want %d", w.Code, tc.status)
			}
			// An error code in the challenge exactly when a key was looked at
			// or the request was malformed (RFC 6750 §3.1).
			if hasCode := strings.Contains(w.Header().Get("WWW-Authenticate"), "error="); w.Code != 200 && hasCode != (tc.wantErr != apikey.ErrNoCredentials) {
				t.Errorf("the middleware's challenge %q for KeyFromRequest's %v", w.Header().Get("WWW-Authenticate"), err)
			}
		})
	}
}

// A handler that verifies the key itself answers as the middleware would.
func ExampleKeyFromRequest() {
	m, err := apikey.New(memstore.New())
	if err != nil {
		panic(err)
	}
	defer m.Close()
	_, secret, err := m.Create(context.Background(), apikey.CreateParams{Name: "reports", Scopes: []string{"reports:read"}})
	if err != nil {
		panic(err)
	}

	reports := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		presented, err := apikey.KeyFromRequest(r)
		switch {
		case errors.Is(err, apikey.ErrDuplicateCredentials):
			http.Error(w, "send the key once", http.StatusBadRequest)
			return
		case err != nil: // ErrNoCredentials
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			http.Error(w, "API key required", http.StatusUnauthorized)
			return
		}
		key, err := m.Verify(r.Context(), presented, "reports:read")
		if err != nil {
			http.Error(w, "invalid API key", http.StatusUnauthorized) // and 403, 429, 503: see examples/verify
			return
		}
		fmt.Fprintln(w, "reports for", key.Name)
	})

	for _, auth := range []string{"bearer " + secret, "Basic dXNlcjpwdw=="} {
		r := httptest.NewRequest(http.MethodGet, "/reports", nil)
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		reports.ServeHTTP(w, r)
		fmt.Print(w.Code, " ", w.Body.String())
	}
	// Output:
	// 200 reports for reports
	// 401 API key required
}
