package apikey_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// faultStore wraps memstore and fails ByDigest on demand; it counts the
// calls, so tests can prove garbage never reaches the store.
type faultStore struct {
	*memstore.Store
	fail      atomic.Bool
	byDigests atomic.Int64
}

var errDiskOnFire = errors.New("disk on fire")

func (s *faultStore) ByDigest(ctx context.Context, d apikey.Digest) (*apikey.Record, error) {
	s.byDigests.Add(1)
	if s.fail.Load() {
		return nil, errDiskOnFire
	}
	return s.Store.ByDigest(ctx, d)
}

// keys are the presented keys of a fixture, one per state.
type keys struct {
	reader, writer, revoked, disabled, expired, testEnv, unknown string
	readerID, revokedID                                          string
}

func (k keys) all() []string {
	return []string{k.reader, k.writer, k.revoked, k.disabled, k.expired, k.testEnv, k.unknown}
}

// newFixture returns a Manager that accepts live keys only, over a
// faultStore holding a key of every state.
func newFixture(t testing.TB, opts ...apikey.Option) (*apikey.Manager, *faultStore, keys) {
	t.Helper()
	ctx := context.Background()
	store := &faultStore{Store: memstore.New()}
	m, err := apikey.New(store, append([]apikey.Option{apikey.WithEnvironments(apikey.EnvLive)}, opts...)...)
	must(t, err)
	t.Cleanup(func() { m.Close() })

	// The issuer accepts both environments and runs two hours behind, so
	// that it can issue a key that has already expired for m.
	issuer, err := apikey.New(store, apikey.WithoutUsageTracking(),
		apikey.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) }))
	must(t, err)
	create := func(p apikey.CreateParams) (*apikey.Key, string) {
		t.Helper()
		k, secret, err := issuer.Create(ctx, p)
		must(t, err)
		return k, secret
	}
	var ks keys
	reader, secret := create(apikey.CreateParams{Name: "reader", Scopes: []string{"webhooks:read"}})
	ks.reader, ks.readerID = secret, reader.ID
	_, ks.writer = create(apikey.CreateParams{Name: "writer", Scopes: []string{"webhooks:write"}})
	revoked, secret := create(apikey.CreateParams{Name: "revoked", Scopes: []string{"*"}})
	ks.revoked, ks.revokedID = secret, revoked.ID
	must(t, issuer.Revoke(ctx, revoked.ID))
	disabled, secret := create(apikey.CreateParams{Name: "disabled", Scopes: []string{"*"}})
	ks.disabled = secret
	_, err = issuer.Disable(ctx, disabled.ID)
	must(t, err)
	_, ks.expired = create(apikey.CreateParams{Name: "expired", Scopes: []string{"*"}, ExpiresAt: time.Now().Add(-time.Hour)})
	_, ks.testEnv = create(apikey.CreateParams{Name: "test env", Environment: apikey.EnvTest, Scopes: []string{"*"}})

	elsewhere, err := apikey.New(memstore.New(), apikey.WithoutUsageTracking())
	must(t, err)
	_, ks.unknown, err = elsewhere.Create(ctx, apikey.CreateParams{Name: "never stored here"})
	must(t, err)
	return m, store, ks
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// okHandler answers 200 with what the request context says, never with
// anything from the request.
var okHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	k, ok := apikey.FromContext(r.Context())
	id := "anonymous"
	if ok {
		id = k.Name
	}
	io.WriteString(w, "ok "+id+" "+apikey.AuthMethod(r.Context()))
})

// fakeJWT stands in for a service's own authenticator: it accepts
// "Bearer eyJ.good" and refuses everything else.
func fakeJWT(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer eyJ.good" {
			http.Error(w, "jwt refused", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r.WithContext(apikey.ContextWithAuthMethod(r.Context(), "jwt")))
	})
}

// denyLimiter refuses every request, asking the client to wait.
type denyLimiter struct{ wait time.Duration }

func (l denyLimiter) Allow(_ context.Context, now time.Time, reqs []apikey.LimitRequest) (apikey.Decision, error) {
	return apikey.Decision{Policy: reqs[0].Name, Limit: reqs[0].Limit.Requests, Window: reqs[0].Limit.Period,
		Reset: now.Add(l.wait), RetryAfter: l.wait}, nil
}

func (denyLimiter) Refund(context.Context, time.Time, []apikey.LimitRequest) error { return nil }

// routes serves every configuration the answers table needs. store holds
// m's keys.
func routes(t testing.TB, m *apikey.Manager, store apikey.Store, brokenStore *apikey.Manager) http.Handler {
	t.Helper()
	mw := func(m *apikey.Manager, opts ...apikey.MiddlewareOption) func(http.Handler) http.Handler {
		t.Helper()
		h, err := m.NewMiddleware(opts...)
		must(t, err)
		return h
	}
	// limited is a Manager over m's keys whose limiter refuses everything.
	limited := func(wait time.Duration) *apikey.Manager {
		lm, err := apikey.New(store, apikey.WithEnvironments(apikey.EnvLive), apikey.WithoutUsageTracking(),
			apikey.WithKeyLimit(apikey.PerSecond(1)), apikey.WithLimiter(denyLimiter{wait}))
		must(t, err)
		t.Cleanup(func() { lm.Close() })
		return lm
	}
	mux := http.NewServeMux()
	mux.Handle("GET /", mw(m)(okHandler))
	mux.Handle("GET /write", mw(m)(apikey.RequireScopes("webhooks:write")(okHandler)))
	mux.Handle("GET /read-or-write", mw(m)(apikey.RequireAnyScope("webhooks:read", "webhooks:write")(okHandler)))
	mux.Handle("GET /scoped", mw(m, apikey.RequiredScopes("webhooks:write"))(okHandler))
	mux.Handle("GET /optional", mw(m, apikey.Optional())(okHandler))
	mux.Handle("GET /optional-any", mw(m, apikey.Optional())(apikey.RequireScopes()(okHandler)))
	mux.Handle("GET /optional-write", mw(m, apikey.Optional())(apikey.RequireScopes("webhooks:write")(okHandler)))
	mux.Handle("GET /fallback", mw(m, apikey.Fallback(fakeJWT))(okHandler))
	mux.Handle("GET /fallback-write", mw(m, apikey.Fallback(fakeJWT))(apikey.RequireScopes("webhooks:write")(okHandler)))
	mux.Handle("GET /realm", mw(m, apikey.Realm("webhooks"))(apikey.RequireScopes("webhooks:write")(okHandler)))
	mux.Handle("GET /store-down", mw(brokenStore)(okHandler))
	mux.Handle("GET /limited", mw(limited(1500*time.Millisecond))(okHandler))
	mux.Handle("GET /limited-now", mw(limited(0))(okHandler))
	return mux
}

type request struct {
	path   string
	header http.Header
}

type response struct {
	status int
	proto  int
	header http.Header
	body   string
}

// canonical is the response as bytes to compare, without the headers a
// server adds on its own.
func (r response) canonical() string {
	var b strings.Builder
	b.WriteString(http.StatusText(r.status) + "\n")
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for k := range r.header {
			if k != "Date" && k != "Content-Length" && !yield(k) {
				return
			}
		}
	}) {
		b.WriteString(name + ": " + strings.Join(r.header[name], " | ") + "\n")
	}
	b.WriteString(r.body)
	return b.String()
}

// transport sends a request one way: over a socket, over HTTP/2, or by
// calling ServeHTTP directly.
type transport struct {
	name string
	wire bool // goes through net/http's client, which refuses some headers
	do   func(t *testing.T, req request) response
}

func transports(t *testing.T, h http.Handler) []transport {
	t.Helper()
	h1 := httptest.NewServer(h)
	t.Cleanup(h1.Close)
	h2 := httptest.NewUnstartedServer(h)
	h2.EnableHTTP2 = true
	h2.StartTLS()
	t.Cleanup(h2.Close)
	overWire := func(srv *httptest.Server) func(t *testing.T, req request) response {
		return func(t *testing.T, req request) response {
			t.Helper()
			r, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+req.path, nil)
			must(t, err)
			r.Header = req.header.Clone()
			resp, err := srv.Client().Do(r)
			must(t, err)
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			must(t, err)
			return response{status: resp.StatusCode, proto: resp.ProtoMajor, header: resp.Header, body: string(body)}
		}
	}
	return []transport{
		{name: "http1", wire: true, do: overWire(h1)},
		{name: "http2", wire: true, do: overWire(h2)},
		{name: "direct", do: func(t *testing.T, req request) response {
			r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, req.path, nil)
			r.Header = req.header.Clone()
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			res := w.Result()
			return response{status: res.StatusCode, proto: 1, header: res.Header, body: w.Body.String()}
		}},
	}
}

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

const (
	bodyUnauthorized = `{"error":{"code":"unauthorized","message":"Invalid or missing API key"}}`
	bodyBadRequest   = `{"error":{"code":"invalid_request","message":"Send credentials once, in one header"}}`
	bodyForbidden    = `{"error":{"code":"forbidden","message":"API key does not have access to this resource"}}`
	bodyUnavailable  = `{"error":{"code":"service_unavailable","message":"Authentication is temporarily unavailable"}}`

	challenge      = `Bearer realm="api"`
	invalidToken   = `Bearer realm="api", error="invalid_token"`
	invalidRequest = `Bearer realm="api", error="invalid_request"`
)

type answerCase struct {
	name      string
	req       request
	status    int
	challenge string // WWW-Authenticate; "" for none
	body      string // exact body
	retry     string // Retry-After; "" for none
	directly  bool   // only by ServeHTTP: net/http's client will not send it
	wireOnly  bool   // only over the wire: the server canonicalises header names
	sameAs401 bool   // a refused key: bytes identical to every other
}

func answerCases(k keys) []answerCase {
	bearer := func(key string) http.Header { return hdr("Authorization", "Bearer "+key) }
	xkey := func(key string) http.Header { return hdr("X-API-Key", key) }
	invalid := func(name string, h http.Header, directly bool) answerCase {
		return answerCase{name: name, req: request{"/", h}, status: 401, challenge: invalidToken, body: bodyUnauthorized, directly: directly, sameAs401: true}
	}
	ok := func(name, path string, h http.Header, body string) answerCase {
		return answerCase{name: name, req: request{path, h}, status: 200, body: body}
	}
	return []answerCase{
		ok("bearer", "/", bearer(k.reader), "ok reader api_key"),
		ok("bearer lower-case scheme, many spaces", "/", hdr("Authorization", "bearer    "+k.reader), "ok reader api_key"),
		ok("BEARER upper-case scheme", "/", hdr("Authorization", "BEARER "+k.reader), "ok reader api_key"),
		ok("x-api-key", "/", xkey(k.reader), "ok reader api_key"),
		{name: "x-api-key sent lower-case", req: request{"/", http.Header{"x-api-key": {k.reader}}}, status: 200, body: "ok reader api_key", wireOnly: true},
		ok("scope granted", "/write", bearer(k.writer), "ok writer api_key"),
		ok("any scope granted", "/read-or-write", bearer(k.reader), "ok reader api_key"),
		ok("middleware scope granted", "/scoped", xkey(k.writer), "ok writer api_key"),
		ok("optional without credentials", "/optional", nil, "ok anonymous "),
		ok("optional with key", "/optional", bearer(k.reader), "ok reader api_key"),
		ok("fallback gets a JWT", "/fallback", hdr("Authorization", "Bearer eyJ.good"), "ok anonymous jwt"),
		ok("fallback: our key still ours", "/fallback", bearer(k.reader), "ok reader api_key"),

		{name: "no credentials", req: request{"/", nil}, status: 401, challenge: challenge, body: bodyUnauthorized},
		{name: "basic scheme", req: request{"/", hdr("Authorization", "Basic dXNlcjpwYXNz")}, status: 401, challenge: challenge, body: bodyUnauthorized},
		{name: "key in query string ignored", req: request{"/?api_key=" + k.reader, nil}, status: 401, challenge: challenge, body: bodyUnauthorized},
		{name: "optional still refuses basic", req: request{"/optional", hdr("Authorization", "Basic dXNlcjpwYXNz")}, status: 401, challenge: challenge, body: bodyUnauthorized},
		{name: "optional anonymous has no key", req: request{"/optional-any", nil}, status: 401, challenge: challenge, body: bodyUnauthorized},
		ok("optional, any key", "/optional-any", bearer(k.writer), "ok writer api_key"),
		{name: "optional anonymous lacks scope", req: request{"/optional-write", nil}, status: 401, challenge: challenge, body: bodyUnauthorized},
		{name: "fallback refuses", req: request{"/fallback", hdr("Authorization", "Bearer eyJ.bad")}, status: 401, body: "jwt refused\n"},
		{name: "fallback-authenticated lacks scope", req: request{"/fallback-write", hdr("Authorization", "Bearer eyJ.good")}, status: 403,
			challenge: `Bearer realm="api", error="insufficient_scope", scope="webhooks:write"`, body: bodyForbidden},

		invalid("malformed", bearer("sk_live_nope"), false),
		invalid("bad checksum", bearer(wrongChecksum(k.reader)), false),
		invalid("unknown", bearer(k.unknown), false),
		invalid("revoked", bearer(k.revoked), false),
		invalid("disabled", xkey(k.disabled), false),
		invalid("expired", bearer(k.expired), false),
		invalid("wrong environment", xkey(k.testEnv), false),
		invalid("bearer without our prefix", bearer("eyJhbGciOiJIUzI1NiJ9.e30.x"), false),
		invalid("bearer without token", hdr("Authorization", "Bearer"), false),
		invalid("empty x-api-key", xkey(""), true),
		invalid("over-long key", bearer("sk_live_"+strings.Repeat("A", 300)), false),
		invalid("huge x-api-key", xkey(strings.Repeat("k", 64<<10)), false),
		invalid("control byte", xkey(k.reader[:20]+"\x00"+k.reader[21:]), true),
		invalid("newline", bearer(k.reader+"\r\nX-Injected: 1"), true),
		invalid("non-ASCII", xkey(k.reader[:20]+"é"+k.reader[22:]), true),
		ok("optional whitespace around x-api-key", "/", xkey(" \t"+k.reader+" \t"), "ok reader api_key"),
		ok("optional whitespace around authorization", "/", hdr("Authorization", "\tBearer "+k.reader+"\t "), "ok reader api_key"),
		{name: "bearer and a tab: not the Bearer syntax", req: request{"/", hdr("Authorization", "Bearer\t"+k.reader)}, status: 401, challenge: challenge, body: bodyUnauthorized},

		{name: "both headers", req: request{"/", hdr("Authorization", "Bearer "+k.reader, "X-API-Key", k.reader)}, status: 400, challenge: invalidRequest, body: bodyBadRequest},
		{name: "bearer JWT and x-api-key", req: request{"/", hdr("Authorization", "Bearer eyJ.good", "X-API-Key", k.reader)}, status: 400, challenge: invalidRequest, body: bodyBadRequest},
		{name: "authorization twice", req: request{"/", hdr("Authorization", "Bearer "+k.reader, "Authorization", "Bearer "+k.reader)}, status: 400, challenge: invalidRequest, body: bodyBadRequest},
		{name: "x-api-key twice", req: request{"/", hdr("X-API-Key", k.reader, "X-API-Key", k.writer)}, status: 400, challenge: invalidRequest, body: bodyBadRequest},

		{name: "scope missing", req: request{"/write", bearer(k.reader)}, status: 403, challenge: `Bearer realm="api", error="insufficient_scope", scope="webhooks:write"`, body: bodyForbidden},
		{name: "no scope of any", req: request{"/read-or-write", bearer(k.unknown)}, status: 401, challenge: invalidToken, body: bodyUnauthorized},
		{name: "middleware scope missing", req: request{"/scoped", xkey(k.reader)}, status: 403, challenge: `Bearer realm="api", error="insufficient_scope", scope="webhooks:write"`, body: bodyForbidden},
		{name: "realm reaches RequireScopes", req: request{"/realm", bearer(k.reader)}, status: 403, challenge: `Bearer realm="webhooks", error="insufficient_scope", scope="webhooks:write"`, body: bodyForbidden},
		{name: "realm", req: request{"/realm", nil}, status: 401, challenge: `Bearer realm="webhooks"`, body: bodyUnauthorized},

		{name: "rate limited", req: request{"/limited", bearer(k.reader)}, status: 429, retry: "2",
			body: `{"error":{"code":"rate_limit_exceeded","message":"Rate limit exceeded. Retry after 2 seconds.","retry_after":2}}`},
		{name: "rate limited, no wait: never Retry-After 0", req: request{"/limited-now", bearer(k.reader)}, status: 429, retry: "1",
			body: `{"error":{"code":"rate_limit_exceeded","message":"Rate limit exceeded. Retry after 1 second.","retry_after":1}}`},
		{name: "store down", req: request{"/store-down", bearer(k.reader)}, status: 503, body: bodyUnavailable},
	}
}

func TestMiddlewareAnswers(t *testing.T) {
	t.Parallel()
	m, store, ks := newFixture(t)
	broken, brokenStore, _ := newFixture(t)
	brokenStore.fail.Store(true)

	for _, tr := range transports(t, routes(t, m, store, broken)) {
		t.Run(tr.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			refusedKey := map[string]string{} // canonical bytes -> case name
			t.Cleanup(func() {
				if len(refusedKey) > 1 {
					t.Errorf("refused keys got %d different responses, want 1: %v", len(refusedKey), refusedKey)
				}
			})
			for _, tc := range answerCases(ks) {
				if tc.directly && tr.wire || tc.wireOnly && !tr.wire {
					continue
				}
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					res := tr.do(t, tc.req)
					checkAnswer(t, tc, res)
					if tr.name == "http2" && res.proto != 2 {
						t.Errorf("proto = HTTP/%d, want HTTP/2", res.proto)
					}
					if tc.sameAs401 {
						mu.Lock()
						refusedKey[res.canonical()] = tc.name
						mu.Unlock()
					}
				})
			}
		})
	}
}

func checkAnswer(t *testing.T, tc answerCase, res response) {
	t.Helper()
	if res.status != tc.status {
		t.Fatalf("status = %d, want %d (body %q)", res.status, tc.status, res.body)
	}
	if res.body != tc.body {
		t.Errorf("body = %q, want %q", res.body, tc.body)
	}
	if got := strings.Join(res.header.Values("WWW-Authenticate"), " | "); got != tc.challenge {
		t.Errorf("WWW-Authenticate = %q, want %q", got, tc.challenge)
	}
	if got := res.header.Get("Retry-After"); got != tc.retry {
		t.Errorf("Retry-After = %q, want %q", got, tc.retry)
	}
	refusedByUs := res.status != 200 && strings.HasPrefix(res.body, `{"error"`)
	if refusedByUs {
		if got := res.header.Get("Content-Type"); got != "application/json" {
			t.Errorf("Content-Type = %q, want application/json", got)
		}
		if got := res.header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("Cache-Control = %q, want no-store", got)
		}
	}
	if res.status == 200 {
		if got := res.header.Values("Vary"); !slices.Equal(got, []string{"Authorization, X-API-Key"}) {
			t.Errorf("Vary = %q, want [Authorization, X-API-Key]", got)
		}
	}
}

// TestMiddlewareRefusesGarbageWithoutStore: anything that is not a key of
// the Manager's format, or is ambiguous, never costs a store call.
func TestMiddlewareRefusesGarbageWithoutStore(t *testing.T) {
	t.Parallel()
	m, store, ks := newFixture(t)
	h := m.Middleware()(okHandler)
	for _, header := range []http.Header{
		hdr("Authorization", "Bearer sk_live_nope"),
		hdr("Authorization", "Bearer "+ks.reader[:20]+"\x00"+ks.reader[21:]),
		hdr("X-API-Key", ks.reader[:20]+"\xff"+ks.reader[21:]),
		hdr("X-API-Key", strings.Repeat("\x7f", 1<<20)),
		hdr("Authorization", "Bearer sk_live_"+strings.Repeat("a", 1<<20)),
		hdr("Authorization", "Bearer eyJ.jwt"),
		hdr("Authorization", "Basic abc"),
		hdr("X-API-Key", ks.testEnv),
		hdr("Authorization", "Bearer "+ks.reader, "X-API-Key", ks.reader),
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header = header
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code == 200 {
			t.Errorf("status 200 for %q", header)
		}
	}
	if n := store.byDigests.Load(); n != 0 {
		t.Errorf("store called %d times, want 0", n)
	}
}

// TestMiddlewareExpiryBoundary: a key works until the instant it expires,
// not one nanosecond after; fake time, no sleeping.
func TestMiddlewareExpiryBoundary(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m, err := apikey.New(memstore.New())
		must(t, err)
		defer m.Close()
		_, key, err := m.Create(t.Context(), apikey.CreateParams{Name: "short-lived", ExpiresAt: time.Now().Add(time.Hour)})
		must(t, err)
		h := m.Middleware()(okHandler)
		status := func() int {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("X-API-Key", key)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w.Code
		}
		if got := status(); got != 200 {
			t.Fatalf("fresh key: status %d", got)
		}
		time.Sleep(time.Hour - time.Nanosecond)
		if got := status(); got != 200 {
			t.Fatalf("1ns before expiry: status %d", got)
		}
		time.Sleep(time.Nanosecond)
		if got := status(); got != 401 {
			t.Fatalf("at expiry: status %d, want 401", got)
		}
	})
}

func TestHideCredentials(t *testing.T) {
	t.Parallel()
	m, _, ks := newFixture(t)
	for _, tc := range []struct {
		name, header, value string
	}{
		{"bearer", "Authorization", "Bearer " + ks.reader},
		{"x-api-key", "X-Api-Key", ks.reader},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var seen http.Header
			next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header })
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set(tc.header, tc.value)
			r.Header.Set("X-Request-Id", "r1")
			w := httptest.NewRecorder()
			m.Middleware(apikey.HideCredentials())(next).ServeHTTP(w, r)
			if w.Code != 200 {
				t.Fatalf("status %d", w.Code)
			}
			if v := seen.Get(tc.header); v != "" {
				t.Errorf("next handler saw %s", tc.header)
			}
			if seen.Get("X-Request-Id") != "r1" {
				t.Error("other headers lost")
			}
			if r.Header.Get(tc.header) != tc.value {
				t.Error("the caller's header map was modified")
			}
		})
	}
	t.Run("off by default", func(t *testing.T) {
		t.Parallel()
		var seen string
		next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = r.Header.Get("X-Api-Key") })
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-Api-Key", ks.reader)
		m.Middleware()(next).ServeHTTP(httptest.NewRecorder(), r)
		if seen != ks.reader {
			t.Error("credential hidden without HideCredentials")
		}
	})
}

// TestVary: Vary joins what an outer handler set, and a handler that adds
// to it does not change what the next request gets.
func TestVary(t *testing.T) {
	t.Parallel()
	m, _, ks := newFixture(t)
	adds := m.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Add("Vary", "Accept-Encoding")
	}))
	for range 2 {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-API-Key", ks.reader)
		w := httptest.NewRecorder()
		adds.ServeHTTP(w, r)
		if got, want := w.Header().Values("Vary"), []string{"Authorization, X-API-Key", "Accept-Encoding"}; !slices.Equal(got, want) {
			t.Errorf("Vary = %q, want %q", got, want)
		}
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-API-Key", ks.reader)
	w := httptest.NewRecorder()
	w.Header().Set("Vary", "Origin")
	m.Middleware()(okHandler).ServeHTTP(w, r)
	if got, want := w.Header().Values("Vary"), []string{"Origin", "Authorization, X-API-Key"}; !slices.Equal(got, want) {
		t.Errorf("Vary = %q, want %q", got, want)
	}
	r.Header = http.Header{"Authorization": {"Bearer " + ks.reader}}
	w = httptest.NewRecorder()
	m.Middleware(apikey.KeyHeader(""))(okHandler).ServeHTTP(w, r)
	if got := w.Header().Get("Vary"); got != "Authorization" {
		t.Errorf("Vary = %q without the key header, want Authorization", got)
	}
}

func TestConfiguredHeaders(t *testing.T) {
	t.Parallel()
	m, _, ks := newFixture(t)
	h := m.Middleware(apikey.BearerHeader("X-Upstream-Authorization"), apikey.KeyHeader("x-token"))(okHandler)
	for header, want := range map[string]int{
		"X-Upstream-Authorization: Bearer " + ks.reader: 200,
		"X-Token: " + ks.reader:                         200,
		"Authorization: Bearer " + ks.reader:            401,
		"X-API-Key: " + ks.reader:                       401,
	} {
		name, value, _ := strings.Cut(header, ": ")
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set(name, value)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("%s: status %d, want %d", name, w.Code, want)
		}
	}
}

func TestErrorHandler(t *testing.T) {
	t.Parallel()
	m, _, ks := newFixture(t)
	var got *apikey.AuthError
	problemJSON := func(w http.ResponseWriter, r *http.Request, e *apikey.AuthError) {
		got = e
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(e.Status)
		io.WriteString(w, `{"type":"about:blank","status":401}`)
	}
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+ks.revoked)
	w := httptest.NewRecorder()
	m.Middleware(apikey.OnError(problemJSON))(okHandler).ServeHTTP(w, r)

	if w.Code != 401 || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("status %d, Content-Type %q", w.Code, w.Header().Get("Content-Type"))
	}
	if w.Header().Get("WWW-Authenticate") != invalidToken || w.Header().Get("Cache-Control") != "no-store" {
		t.Errorf("protocol headers missing: %q", w.Header())
	}
	if got.Status != 401 || got.Code != "unauthorized" || !errors.Is(got.Err, apikey.ErrRevoked) || !errors.Is(got.Err, apikey.ErrInvalidKey) {
		t.Errorf("AuthError = %+v", got)
	}
	var ke *apikey.KeyError
	if !errors.As(got.Err, &ke) || ke.KeyID != ks.revokedID {
		t.Errorf("AuthError does not name the key: %v", got)
	}
	if strings.Contains(got.Err.Error(), ks.revoked) {
		t.Error("AuthError holds the key")
	}
}

func TestMiddlewareOptionsChecked(t *testing.T) {
	t.Parallel()
	m, _, ks := newFixture(t)
	for name, opts := range map[string][]apikey.MiddlewareOption{
		"realm with quote":      {apikey.Realm(`a"b`)},
		"realm with newline":    {apikey.Realm("a\nb")},
		"empty realm":           {apikey.Realm("")},
		"header name with ':'":  {apikey.KeyHeader("X:Key")},
		"no header":             {apikey.BearerHeader(""), apikey.KeyHeader("")},
		"nil fallback":          {apikey.Fallback(nil)},
		"nil logger":            {apikey.LogFailures(nil)},
		"invalid scope":         {apikey.RequiredScopes(`webhooks "read"`)},
		"same header twice":     {apikey.KeyHeader("authorization")},
		"x-api-key as a bearer": {apikey.BearerHeader("X-API-KEY")},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if _, err := m.NewMiddleware(opts...); !errors.Is(err, apikey.ErrInvalidParams) {
				t.Fatalf("NewMiddleware: err = %v, want ErrInvalidParams", err)
			}
			// Middleware fails closed instead of panicking.
			logs := &captureHandler{}
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("X-API-Key", ks.reader)
			w := httptest.NewRecorder()
			if name != "nil logger" {
				opts = append(opts, apikey.LogFailures(slog.New(logs)))
			}
			m.Middleware(opts...)(okHandler).ServeHTTP(w, r)
			if w.Code != 503 || w.Body.String() != bodyUnavailable {
				t.Errorf("misconfigured middleware: %d %q, want 503", w.Code, w.Body)
			}
			if name != "nil logger" && !strings.Contains(logs.String(), "misconfigured") {
				t.Errorf("misconfiguration not logged: %q", logs.String())
			}
		})
	}
	t.Run("invalid scope in RequireScopes", func(t *testing.T) {
		t.Parallel()
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-API-Key", ks.reader)
		w := httptest.NewRecorder()
		m.Middleware()(apikey.RequireScopes("a b")(okHandler)).ServeHTTP(w, r)
		if w.Code != 503 {
			t.Errorf("status %d, want 503", w.Code)
		}
	})
}

// TestRequireScopesAlone: without the middleware in front there is no key,
// so 401 with the default realm; with Manager.NewContext, the Manager's
// implications apply.
func TestRequireScopesAlone(t *testing.T) {
	t.Parallel()
	w := httptest.NewRecorder()
	apikey.RequireScopes("x")(okHandler).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
	if w.Code != 401 || w.Header().Get("WWW-Authenticate") != challenge {
		t.Errorf("status %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}

	m, err := apikey.New(memstore.New(), apikey.WithoutUsageTracking(),
		apikey.WithScopeImplications(map[string][]string{"write": {"read"}}))
	must(t, err)
	key := &apikey.Key{Name: "writer", Scopes: []string{"webhooks:write"}}
	for ctx, want := range map[context.Context]int{
		m.NewContext(context.Background(), key): 200, // write implies read
	} {
		r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)
		w := httptest.NewRecorder()
		apikey.RequireScopes("webhooks:read")(okHandler).ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("status %d, want %d", w.Code, want)
		}
	}
}

// captureHandler keeps every log record, at every level, as text.
type captureHandler struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (h *captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) Handle(ctx context.Context, rec slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slog.NewTextHandler(&h.buf, &slog.HandlerOptions{Level: slog.LevelDebug}).Handle(ctx, rec)
}
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *captureHandler) WithGroup(string) slog.Handler      { return h }
func (h *captureHandler) reset() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.buf.Reset()
}

func (h *captureHandler) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.buf.String()
}

// recoverer is the kind of recovery middleware a service puts outermost:
// it logs the panic and answers 500.
func recoverer(logger *slog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				logger.Error("panic", "value", p, "path", r.URL.Path)
				w.WriteHeader(http.StatusInternalServerError)
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// TestNoKeyInLogs drives every answer, a panicking handler included, and
// proves no key reaches the logs while the failures are logged.
func TestNoKeyInLogs(t *testing.T) {
	t.Parallel()
	logs := &captureHandler{}
	logger := slog.New(logs)
	m, store, ks := newFixture(t, apikey.WithLogger(logger))
	broken, brokenStore, _ := newFixture(t, apikey.WithLogger(logger))
	brokenStore.fail.Store(true)

	mux := http.NewServeMux()
	mux.Handle("/", routes(t, m, store, broken))
	mux.Handle("/panic", m.Middleware(apikey.LogFailures(logger))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("handler exploded")
	})))
	mux.Handle("/logged/", m.Middleware(apikey.LogFailures(logger))(apikey.RequireScopes("webhooks:write")(okHandler)))
	mux.Handle("/logged-down/", broken.Middleware(apikey.LogFailures(logger))(okHandler))
	srv := recoverer(logger, mux)

	paths := []string{"/", "/write", "/scoped", "/store-down", "/limited", "/panic", "/logged/x", "/logged-down/x"}
	for _, path := range paths {
		for _, key := range ks.all() {
			for _, header := range []http.Header{
				hdr("Authorization", "Bearer "+key),
				hdr("X-API-Key", key),
				hdr("Authorization", "Bearer "+key, "X-API-Key", key),
			} {
				r := httptest.NewRequest(http.MethodGet, path, nil)
				r.Header = header
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, r)
				if bytes.Contains(w.Body.Bytes(), []byte(key)) {
					t.Errorf("%s: key in response body", path)
				}
			}
		}
	}
	out := logs.String()
	for _, key := range ks.all() {
		if strings.Contains(out, key) || strings.Contains(out, key[len(key)-20:]) {
			t.Fatalf("a key reached the logs:\n%s", out)
		}
	}
	for _, want := range []string{"reason=revoked_key", "key_id=" + ks.revokedID, "reason=unknown_key", "reason=store_unavailable",
		"reason=duplicate_credentials", "reason=insufficient_scope", "handler exploded", "client=192.0.2.1"} {
		if !strings.Contains(out, want) {
			t.Errorf("logs lack %q", want)
		}
	}
}

// TestMiddlewareAllocs pins the allocation budget of a successful request:
// the context value and the request copy, nothing else.
func TestMiddlewareAllocs(t *testing.T) {
	m, _, ks := newFixture(t)
	h := m.Middleware()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("Authorization", "Bearer "+ks.reader)
	w := &reusableWriter{header: http.Header{}}
	allocs := testing.AllocsPerRun(1000, func() {
		clear(w.header)
		h.ServeHTTP(w, r)
	})
	if allocs > 2 {
		t.Errorf("%.1f allocs per request, want ≤ 2", allocs)
	}
	// With a fresh, empty header map per response, as net/http gives each
	// request, the middleware's Vary is the first header of an empty
	// handler's response and allocates the map's storage (one table group,
	// whatever the way of setting it): the context and the request copy
	// must then take one allocation together. A handler that sets a header
	// pays for that storage itself.
	empty := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	typed := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header()["Content-Type"] = []string{"application/json"}
	})
	fresh := func(h http.Handler) float64 {
		return testing.AllocsPerRun(1000, func() { h.ServeHTTP(&reusableWriter{header: http.Header{}}, r) })
	}
	for _, tc := range []struct {
		name  string
		next  http.Handler
		added float64
	}{{"empty handler", empty, 2}, {"handler setting Content-Type", typed, 1}} {
		if added := fresh(m.Middleware()(tc.next)) - fresh(tc.next); added > tc.added {
			t.Errorf("%s, fresh header map: +%.1f allocs per request, want ≤ +%.0f", tc.name, added, tc.added)
		}
	}
}

type reusableWriter struct{ header http.Header }

func (w *reusableWriter) Header() http.Header         { return w.header }
func (w *reusableWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *reusableWriter) WriteHeader(int)             {}
