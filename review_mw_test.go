package apikey_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// Findings of the independent review of issue 15 and issue 10 items 4, 5,
// 8 and 11.

// RecoverPanics covers every handler behind the middleware, a Public
// route's included.
func TestRecoverPanicsOnPublicRoute(t *testing.T) {
	t.Parallel()
	m := newManager(t, memstore.New())
	mux := http.NewServeMux()
	mux.Handle("GET /health", apikey.Public(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("boom") })))
	h := m.Middleware(apikey.RecoverPanics())(mux)
	w := httptest.NewRecorder()
	require.NotPanics(t, func() { h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/health", nil)) })
	assert.Equal(t, http.StatusInternalServerError, w.Code)
}

// The panic log holds no part of a key, nor a fallback's credential.
func TestPanicLogScrubsCredentials(t *testing.T) {
	t.Parallel()
	m, _, ks := newFixture(t)
	logs := &captureHandler{}
	partial := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k := r.Header.Get("X-API-Key")
		panic(errors.New("lookup of " + k[:len(k)-10] + "… failed")) // a truncated key in a wrapped error
	})
	h := m.Middleware(apikey.RecoverPanics(), apikey.LogFailures(slog.New(logs)))(partial)
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-API-Key", ks.reader)
	h.ServeHTTP(httptest.NewRecorder(), r)
	assert.Contains(t, logs.String(), "handler panicked")
	assert.NotContains(t, logs.String(), ks.reader[8:30], "a truncated key is still most of a key")

	logs.reset()
	header := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("cannot serve " + r.Header.Get("Authorization"))
	})
	h = m.Middleware(apikey.RecoverPanics(), apikey.Fallback(fakeJWT), apikey.LogFailures(slog.New(logs)))(header)
	r = httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer eyJ.good")
	h.ServeHTTP(httptest.NewRecorder(), r)
	assert.Contains(t, logs.String(), "handler panicked")
	assert.NotContains(t, logs.String(), "eyJ.good", "the fallback's credential is the presented credential")
}

// A preflight refused by a gate answers as the middleware is configured
// (realm, error handler), like every other refusal behind it.
func TestPreflightRefusalUsesMiddlewareResponder(t *testing.T) {
	t.Parallel()
	m := newManager(t, memstore.New())
	mux := http.NewServeMux()
	mux.Handle("/admin", apikey.RequireScopes("admin")(okHandler))
	h := m.Middleware(apikey.AllowPreflight(mux), apikey.Realm("billing"))(mux)
	r := httptest.NewRequest(http.MethodOptions, "/admin", nil)
	r.Header.Set("Access-Control-Request-Method", "DELETE")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, http.StatusUnauthorized, w.Code)
	assert.Equal(t, `Bearer realm="billing"`, w.Header().Get("Www-Authenticate"))
}

// downLimiter fails every decision; it counts refunds.
type downLimiter struct{ refunds atomic.Int64 }

func (l *downLimiter) Allow(context.Context, time.Time, []apikey.LimitRequest) (apikey.Decision, error) {
	return apikey.Decision{}, errors.New("limiter down")
}

func (l *downLimiter) Refund(_ context.Context, _ time.Time, reqs []apikey.LimitRequest) error {
	l.refunds.Add(int64(len(reqs)))
	return nil
}

// A limiter that failed open took nothing: a refusal must give nothing
// back, or a limiter that recovers in between hands out free budget.
func TestNoRefundAfterFailOpen(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			lim := &downLimiter{}
			m := newManager(t, memstore.New(), apikey.WithLimiter(lim), apikey.WithLimiterFailOpen(),
				apikey.WithKeyLimit(apikey.PerHour(5)))
			_, secret := create(t, m, apikey.CreateParams{Scopes: []string{"read"}, Quota: &apikey.Quota{Limit: 1}})
			mux := http.NewServeMux()
			mux.Handle("GET /read", okHandler)
			mux.Handle("GET /write", apikey.RequireScopes("write")(okHandler))
			h := m.Middleware()(mode.wrap(mux))
			do := func(path string) int {
				r := httptest.NewRequest(http.MethodGet, path, nil)
				r.Header.Set("X-API-Key", secret)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				return w.Code
			}
			assert.Equal(t, http.StatusForbidden, do("/write"))
			assert.Equal(t, http.StatusOK, do("/read"))
			assert.Equal(t, http.StatusTooManyRequests, do("/read"), "quota spent")
			assert.Zero(t, lim.refunds.Load(), "refunds of budget the failed limiter never took")
		})
	}
}

// A handler that streams keeps http.Flusher under RecoverPanics.
func TestRecoverPanicsKeepsFlusher(t *testing.T) {
	t.Parallel()
	m, _, ks := newFixture(t)
	var flusher atomic.Bool
	h := m.Middleware(apikey.RecoverPanics())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok := w.(http.Flusher)
		flusher.Store(ok)
	}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-API-Key", ks.reader)
	h.ServeHTTP(httptest.NewRecorder(), r)
	assert.True(t, flusher.Load(), "an SSE handler's w.(http.Flusher) must still work")
}

// HideCredentials keeps a key from a Public route's handler too: clients
// send their key on every request, and a public route may log or proxy.
func TestHideCredentialsOnPublicRoute(t *testing.T) {
	t.Parallel()
	m, _, ks := newFixture(t)
	var seen atomic.Value
	mux := http.NewServeMux()
	mux.Handle("/docs/", apikey.Public(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen.Store(r.Header.Get("X-API-Key") + r.Header.Get("Authorization"))
	})))
	h := m.Middleware(apikey.HideCredentials())(mux)
	for _, header := range []http.Header{hdr("X-API-Key", ks.reader), hdr("Authorization", "Bearer "+ks.reader)} {
		r := httptest.NewRequest(http.MethodGet, "/docs/", nil)
		r.Header = header
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, http.StatusOK, w.Code)
		assert.Empty(t, seen.Load(), "the public handler saw the key")
		assert.NotEmpty(t, r.Header.Get("X-API-Key")+r.Header.Get("Authorization"), "the caller's request is untouched")
	}
}

// The failure throttle refuses what would cost a hash or a lookup: a
// request without an API key (anonymous under Optional, or a Fallback's
// JWT) costs neither, and a shared address's bad keys must not lock its
// other users out of it.
func TestThrottleSparesRequestsWithoutKeys(t *testing.T) {
	t.Parallel()
	m, _, ks := newFixture(t)
	for name, opt := range map[string]apikey.MiddlewareOption{"optional": apikey.Optional(), "fallback": apikey.Fallback(fakeJWT)} {
		h := m.Middleware(opt)(okHandler)
		do := func(header http.Header) int {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = "192.0.2.7:1234" // one NAT address for everyone
			r.Header = header
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w.Code
		}
		for range 61 {
			do(hdr("X-API-Key", ks.unknown))
		}
		require.Equal(t, http.StatusTooManyRequests, do(hdr("X-API-Key", ks.unknown)), "%s: the address is blocked", name)
		if name == "optional" {
			assert.Equal(t, http.StatusOK, do(hdr()), "an anonymous request costs no lookup")
		} else {
			assert.Equal(t, http.StatusOK, do(hdr("Authorization", "Bearer eyJ.good")), "a fallback's credential costs us no lookup")
		}
	}
}

// The middleware never modifies the caller's request (net/http: handlers
// should not), yet the route's handler sees r.Pattern as the mux sets it.
func TestCallersRequestUntouched(t *testing.T) {
	t.Parallel()
	m, _, ks := newFixture(t)
	var seen atomic.Value
	record := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen.Store(r.Pattern) })
	mux := http.NewServeMux()
	mux.Handle("GET /plain", record)
	mux.Handle("GET /public", apikey.Public(record))
	mux.Handle("GET /items/{id}", record)
	h := m.Middleware(apikey.Optional())(mux)
	for _, tc := range []struct{ path, pattern, key string }{
		{"/plain", "GET /plain", ks.reader},
		{"/plain", "GET /plain", ""},
		{"/public", "GET /public", ""},
		{"/items/1", "GET /items/{id}", ks.reader},
	} {
		seen.Store("")
		r := httptest.NewRequest(http.MethodGet, tc.path, nil)
		if tc.key != "" {
			r.Header.Set("X-API-Key", tc.key)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, http.StatusOK, w.Code, tc.path)
		assert.Equal(t, tc.pattern, seen.Load(), "%s: the handler's r.Pattern", tc.path)
		assert.Empty(t, r.Pattern, "%s: the caller's request was modified", tc.path)
	}
}

// The 500 of RecoverPanics is a fresh response: headers the handler set
// before panicking (a Content-Length, a Content-Encoding, a cookie) must
// not describe it.
func TestRecoverPanicsDropsHandlerHeaders(t *testing.T) {
	t.Parallel()
	m, _, ks := newFixture(t)
	h := m.Middleware(apikey.RecoverPanics())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "2")
		w.Header().Set("Content-Encoding", "gzip")
		w.Header().Set("Set-Cookie", "session=half-done")
		panic("boom")
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	r.Header.Set("X-API-Key", ks.reader)
	r.Header.Set("Accept-Encoding", "identity")
	res, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, res.StatusCode)
	assert.Equal(t, `{"error":{"code":"internal_error","message":"Internal server error"}}`, string(body))
	assert.Empty(t, res.Header.Get("Content-Encoding"))
	assert.Empty(t, res.Header.Get("Set-Cookie"))
	assert.Equal(t, "Authorization, X-API-Key", res.Header.Get("Vary"), "the middleware's own headers stay")
}
