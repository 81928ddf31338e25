package apikey_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// One decision per request (issue 15): a request refused for a scope, a
// route limit or its key takes nothing from the key's, the owner's or a
// route's limits, nor from the quota. With the mux in sight the middleware
// decides once; behind a router it cannot look into ("hidden"), the gates
// give back what the request took.

const (
	keyLimit   = 3  // per hour, the key's
	ownerLimit = 5  // per hour, shared by the owner's keys
	quotaLimit = 10 // in all
)

// budgetRoutes is the mux of the acceptance tests.
func budgetRoutes() *http.ServeMux {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux := http.NewServeMux()
	mux.Handle("GET /read", apikey.RequireScopes("read")(ok))
	mux.Handle("GET /write", apikey.LimitRoute("writes", apikey.PerHour(5), apikey.PerOwner)(apikey.RequireScopes("write")(ok)))
	mux.Handle("GET /tight", apikey.RequireScopes("read")(apikey.LimitRoute("tight", apikey.PerHour(1), apikey.PerOwner)(ok)))
	mux.Handle("GET /health", apikey.Public(ok))
	return mux
}

func budgetManager(t testing.TB, opts ...apikey.Option) *apikey.Manager {
	return newManager(t, memstore.New(), append([]apikey.Option{
		apikey.WithKeyLimit(apikey.PerHour(keyLimit)),
		apikey.WithPlans(map[string]apikey.Limit{"org": apikey.PerHour(ownerLimit)}),
		apikey.WithOwnerPlan(func(string) string { return "org" }),
	}, opts...)...)
}

// modes are the two ways the middleware meets the routes.
var modes = []struct {
	name string
	wrap func(*http.ServeMux) http.Handler
}{
	{"mux", func(mux *http.ServeMux) http.Handler { return mux }},
	{"hidden", func(mux *http.ServeMux) http.Handler { return http.HandlerFunc(mux.ServeHTTP) }},
}

func get(t testing.TB, url, key string) *http.Response {
	t.Helper()
	r, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	if key != "" {
		r.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(r)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

func TestRefusalsSpendNothing(t *testing.T) {
	t.Parallel()
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			m := budgetManager(t)
			reader, secret := create(t, m, apikey.CreateParams{OwnerID: "acme", Scopes: []string{"read"},
				Quota: &apikey.Quota{Limit: quotaLimit}})
			_, unknown := create(t, newManager(t, memstore.New()), apikey.CreateParams{})
			srv := httptest.NewServer(m.Middleware()(mode.wrap(budgetRoutes())))
			t.Cleanup(srv.Close)

			// The tight route's limit is spent beforehand: every call to it is
			// a route 429.
			_, err := m.Allow(ctx, apikey.LimitRequest{Key: apikey.LimitKey{Policy: "route:tight", Subject: "owner\x00acme"},
				Limit: apikey.PerHour(1), Cost: 1, Name: "tight"})
			require.NoError(t, err)

			for range 10 {
				require.Equal(t, http.StatusForbidden, get(t, srv.URL+"/write", secret).StatusCode)
				require.Equal(t, http.StatusTooManyRequests, get(t, srv.URL+"/tight", secret).StatusCode)
				require.Equal(t, http.StatusUnauthorized, get(t, srv.URL+"/read", unknown).StatusCode)
				if mode.name == "mux" { // Public needs the mux in sight
					require.Equal(t, http.StatusOK, get(t, srv.URL+"/health", "").StatusCode)
				}
			}

			// The key's whole limit is left, and then it is spent.
			for i := range keyLimit {
				res := get(t, srv.URL+"/read", secret)
				require.Equal(t, http.StatusOK, res.StatusCode, "request %d of the key's %d", i+1, keyLimit)
			}
			res := get(t, srv.URL+"/read", secret)
			require.Equal(t, http.StatusTooManyRequests, res.StatusCode)
			assert.Equal(t, strconv.Itoa(keyLimit), res.Header.Get("X-RateLimit-Limit"), "refused by the key's limit")

			k, err := m.Get(ctx, reader.ID)
			require.NoError(t, err)
			assert.Equal(t, int64(quotaLimit-keyLimit), k.Quota.Remaining, "the quota paid for the successes only")
			_, err = m.Allow(ctx, apikey.LimitRequest{Key: apikey.LimitKey{Policy: "owner", Subject: "acme"},
				Limit: apikey.PerHour(ownerLimit), Cost: ownerLimit - keyLimit, Name: "owner"})
			assert.NoError(t, err, "the owner's limit paid for the successes only")
			_, err = m.Allow(ctx, apikey.LimitRequest{Key: apikey.LimitKey{Policy: "route:writes", Subject: "owner\x00acme"},
				Limit: apikey.PerHour(5), Cost: 5, Name: "writes"})
			assert.NoError(t, err, "the 403s took nothing from the route limit around the scope gate")
		})
	}
}

// A quota that refuses after the limits allowed gives the limits back.
func TestQuotaRefusalGivesLimitsBack(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := budgetManager(t)
	_, secret := create(t, m, apikey.CreateParams{OwnerID: "acme", Quota: &apikey.Quota{Limit: 1}})
	_, err := m.Verify(ctx, secret)
	require.NoError(t, err)
	for range 5 {
		_, err = m.Verify(ctx, secret)
		require.ErrorIs(t, err, apikey.ErrQuotaExceeded)
	}
	_, err = m.Allow(ctx, apikey.LimitRequest{Key: apikey.LimitKey{Policy: "owner", Subject: "acme"},
		Limit: apikey.PerHour(ownerLimit), Cost: ownerLimit - 1, Name: "owner"})
	assert.NoError(t, err, "the owner's limit paid for the one success only")
}

// Exactly L of N ≫ L concurrent requests pass, whatever the forbidden and
// route-limited requests between them.
func TestExactlyLWithMixedRoutes(t *testing.T) {
	t.Parallel()
	const n = 300
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			m := newManager(t, memstore.New(), apikey.WithKeyLimit(apikey.PerHour(20)))
			_, secret := create(t, m, apikey.CreateParams{OwnerID: "acme", Scopes: []string{"read"}})
			srv := httptest.NewServer(m.Middleware()(mode.wrap(budgetRoutes())))
			t.Cleanup(srv.Close)
			paths := []string{"/read", "/write", "/tight", "/read", "/write"}
			var passed atomic.Int64
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					res := get(t, srv.URL+paths[i%len(paths)], secret)
					if res.StatusCode == http.StatusOK {
						passed.Add(1)
					}
				})
			}
			wg.Wait()
			// The tight route lets one through per hour, the reads the rest.
			if mode.name == "mux" {
				assert.Equal(t, int64(20), passed.Load(), "exactly the key's limit")
				return
			}
			// Hidden: a read may be refused while a forbidden request holds
			// a token it gives back; none is lost, and none is added.
			assert.LessOrEqual(t, passed.Load(), int64(20))
			for passed.Load() < 20 {
				require.Equal(t, http.StatusOK, get(t, srv.URL+"/read", secret).StatusCode, "passed %d", passed.Load())
				passed.Add(1)
			}
			assert.Equal(t, http.StatusTooManyRequests, get(t, srv.URL+"/read", secret).StatusCode)
		})
	}
}

// The README's first snippet: /health answers without a key, every other
// route needs one.
func TestPublicRoute(t *testing.T) {
	t.Parallel()
	m := newManager(t, memstore.New(), apikey.WithKeyLimit(apikey.PerHour(1)))
	k, secret := create(t, m, apikey.CreateParams{Scopes: []string{"webhooks:read"}})
	var seen atomic.Pointer[apikey.Key]
	mux := http.NewServeMux()
	mux.Handle("GET /health", apikey.Public(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if k, ok := apikey.FromContext(r.Context()); ok {
			seen.Store(k)
		}
	})))
	mux.HandleFunc("GET /webhooks", func(http.ResponseWriter, *http.Request) {})
	mux.Handle("GET /contradiction", apikey.Public(apikey.RequireScopes("x")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))))
	srv := httptest.NewServer(m.Middleware()(mux))
	t.Cleanup(srv.Close)

	res := get(t, srv.URL+"/health", "")
	assert.Equal(t, http.StatusOK, res.StatusCode)
	assert.Empty(t, res.Header.Get("Www-Authenticate"))
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/health", secret).StatusCode)
	assert.Equal(t, http.StatusOK, get(t, srv.URL+"/health", "sk_live_garbage").StatusCode, "credentials are not looked at")
	assert.Nil(t, seen.Load(), "FromContext is empty on a public route")
	assert.Equal(t, http.StatusUnauthorized, get(t, srv.URL+"/webhooks", "").StatusCode)
	assert.Equal(t, http.StatusNotFound, get(t, srv.URL+"/nowhere", secret).StatusCode)
	assert.Equal(t, http.StatusTooManyRequests, get(t, srv.URL+"/webhooks", secret).StatusCode,
		"the key's one request went to /nowhere; none to /health")
	assert.Equal(t, http.StatusServiceUnavailable, get(t, srv.URL+"/contradiction", "").StatusCode, "public with requirements fails closed")
	_ = k
}

// Headers describe the tightest limit that applied, however nested.
func TestHeadersDescribeTightestLimit(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, mode := range modes {
		for _, order := range []string{"tight outside", "tight inside"} {
			t.Run(mode.name+"/"+order, func(t *testing.T) {
				t.Parallel()
				m := newManager(t, memstore.New(), apikey.WithKeyLimit(apikey.PerMinute(100)))
				_, secret := create(t, m, apikey.CreateParams{})
				tight := apikey.LimitRoute("tight", apikey.PerMinute(4), nil)
				loose := apikey.LimitRoute("loose", apikey.PerMinute(50), nil)
				h := tight(loose(ok))
				if order == "tight inside" {
					h = loose(tight(ok))
				}
				mux := http.NewServeMux()
				mux.Handle("GET /", h)
				srv := httptest.NewServer(m.Middleware()(mode.wrap(mux)))
				t.Cleanup(srv.Close)
				res := get(t, srv.URL+"/", secret)
				require.Equal(t, http.StatusOK, res.StatusCode)
				assert.Equal(t, "4", res.Header.Get("X-RateLimit-Limit"))
				assert.Equal(t, "3", res.Header.Get("X-RateLimit-Remaining"))
			})
		}
	}
}

// Issue 10 item 4: a valid key behind an address that sent many bad ones
// passes when its record is cached; what would cost a lookup is throttled.
func TestThrottleSparesCachedKeys(t *testing.T) {
	t.Parallel()
	store := newCountingStore()
	m := newManager(t, store)
	_, valid := create(t, m, apikey.CreateParams{})
	_, cold := create(t, m, apikey.CreateParams{})
	_, unknown := create(t, newManager(t, memstore.New()), apikey.CreateParams{})
	h := m.Middleware()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	do := func(key string) int {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = "192.0.2.1:1234" // one NAT address for everyone
		r.Header.Set("X-API-Key", key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	require.Equal(t, http.StatusOK, do(valid))
	for range 60 {
		do(unknown[:len(unknown)-8] + "AAAAAAAA") // bad checksums: no store work
	}
	for range 5 {
		assert.Equal(t, http.StatusTooManyRequests, do(unknown))
	}
	reads := store.reads.Load()
	assert.Equal(t, http.StatusOK, do(valid), "a cached valid key passes the throttle")
	assert.Equal(t, http.StatusTooManyRequests, do(cold), "a key that would cost a lookup is throttled")
	assert.Equal(t, reads, store.reads.Load(), "the throttle still spares the store")
}

// Issue 10 item 8: optional whitespace around a credential answers alike
// over HTTP/1.1, HTTP/2 and ServeHTTP.
func TestOptionalWhitespaceEverywhere(t *testing.T) {
	t.Parallel()
	m, _, ks := newFixture(t)
	h := m.Middleware()(okHandler)
	for _, tr := range transports(t, h) {
		for name, header := range map[string]http.Header{
			"x-api-key, spaces":  hdr("X-API-Key", "  "+ks.reader+"  "),
			"x-api-key, tabs":    hdr("X-API-Key", "\t"+ks.reader+"\t"),
			"authorization, OWS": hdr("Authorization", " \tBearer "+ks.reader+" \t"),
		} {
			res := tr.do(t, request{"/", header})
			assert.Equal(t, http.StatusOK, res.status, "%s over %s", name, tr.name)
		}
	}
}

// Issue 10 item 11: a CORS preflight goes to the CORS handler when asked
// to, and only it; the routes behind the middleware never see it without a
// key.
func TestAllowPreflight(t *testing.T) {
	t.Parallel()
	m, _, ks := newFixture(t)
	cors := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, hasKey := apikey.FromContext(r.Context())
		assert.False(t, hasKey)
		w.WriteHeader(http.StatusNoContent)
	})
	// A route without a method, as many are: it would serve an OPTIONS
	// like a GET.
	mux := http.NewServeMux()
	mux.Handle("/", okHandler)
	do := func(h http.Handler, method string, header http.Header) int {
		r := httptest.NewRequest(method, "/", nil)
		r.Header = header
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w.Code
	}
	preflight := hdr("Origin", "https://app.example", "Access-Control-Request-Method", "POST")
	assert.Equal(t, http.StatusUnauthorized, do(m.Middleware()(mux), http.MethodOptions, preflight), "off by default")
	h := m.Middleware(apikey.AllowPreflight(cors))(mux)
	assert.Equal(t, http.StatusNoContent, do(h, http.MethodOptions, preflight), "to the CORS handler, not the route")
	assert.Equal(t, http.StatusUnauthorized, do(h, http.MethodOptions, hdr("Origin", "https://app.example")), "a plain OPTIONS is no preflight")
	assert.Equal(t, http.StatusUnauthorized, do(h, http.MethodPost, preflight), "only OPTIONS")
	withKey := hdr("Access-Control-Request-Method", "POST", "X-API-Key", ks.reader)
	assert.Equal(t, http.StatusOK, do(h, http.MethodOptions, withKey), "with credentials it is authenticated as usual")
	_, err := m.NewMiddleware(apikey.AllowPreflight(nil))
	assert.ErrorIs(t, err, apikey.ErrInvalidParams)
}

// Issue 10 item 11: a panic behind the middleware answers a generic 500,
// and the key reaches no log line.
func TestRecoverPanics(t *testing.T) {
	t.Parallel()
	m, _, ks := newFixture(t)
	logs := &captureHandler{}
	boom := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		panic("cannot serve " + r.Header.Get("X-API-Key"))
	})
	h := m.Middleware(apikey.RecoverPanics(), apikey.LogFailures(slog.New(logs)))(boom)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	r, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	require.NoError(t, err)
	r.Header.Set("X-API-Key", ks.reader)
	res, err := http.DefaultClient.Do(r)
	require.NoError(t, err, "an answer, not a dropped connection")
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	assert.Equal(t, http.StatusInternalServerError, res.StatusCode)
	assert.Equal(t, `{"error":{"code":"internal_error","message":"Internal server error"}}`, string(body))
	assert.Equal(t, "application/json", res.Header.Get("Content-Type"))
	assert.Contains(t, logs.String(), "cannot serve [REDACTED]")
	assert.NotContains(t, logs.String(), ks.reader)
	assert.NotContains(t, logs.String(), ks.reader[8:40], "not even a part of it")

	// Once the response has begun, the connection is cut as net/http
	// would, quietly.
	late := m.Middleware(apikey.RecoverPanics())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusOK)
		panic("late")
	}))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("X-API-Key", ks.reader)
	assert.PanicsWithValue(t, http.ErrAbortHandler, func() { late.ServeHTTP(rec, req) })
	assert.Equal(t, http.StatusOK, rec.Code)
}

// The route-aware decision allocates nothing a plain route would not: a
// route the middleware sees (gated or not, without wildcards) costs what
// it costs behind a router the middleware cannot see into.
func TestRouteDecisionAllocs(t *testing.T) {
	m := newManager(t, memstore.New(), apikey.WithKeyLimit(apikey.PerSecond(1_000_000_000)))
	_, secret := create(t, m, apikey.CreateParams{Scopes: []string{"read"}})
	empty := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	mux := http.NewServeMux()
	mux.Handle("GET /plain", empty)
	mux.Handle("GET /gated", apikey.RequireScopes("read")(apikey.LimitRoute("r", apikey.PerSecond(1_000_000_000), nil)(empty)))
	allocs := func(h http.Handler, path string) float64 {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set("Authorization", "Bearer "+secret)
		w := &reusableWriter{header: http.Header{}}
		return testing.AllocsPerRun(500, func() {
			clear(w.header)
			h.ServeHTTP(w, r)
		})
	}
	for _, path := range []string{"/plain", "/gated"} {
		seen := allocs(m.Middleware()(mux), path)
		hidden := allocs(m.Middleware()(http.HandlerFunc(mux.ServeHTTP)), path)
		assert.LessOrEqual(t, seen, hidden, "%s: %.1f allocs with the route in sight, %.1f without", path, seen, hidden)
	}
}

// RouteCost: a route's own cost, in the one decision or, behind another
// router, as the rest above the middleware's; refusals take nothing.
func TestRouteCost(t *testing.T) {
	t.Parallel()
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for _, mode := range modes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			m := newManager(t, memstore.New(), apikey.WithKeyLimit(apikey.PerHour(10)))
			_, secret := create(t, m, apikey.CreateParams{Scopes: []string{"read"}})
			mux := http.NewServeMux()
			mux.Handle("GET /bulk", apikey.RouteCost(4)(ok))
			mux.Handle("GET /bulk-write", apikey.RouteCost(4)(apikey.RequireScopes("write")(ok)))
			mux.Handle("GET /one", ok)
			mux.Handle("GET /broken", apikey.RouteCost(0)(ok))
			h := m.Middleware()(mode.wrap(mux))
			do := func(path string) (int, string) {
				r := httptest.NewRequest(http.MethodGet, path, nil)
				r.Header.Set("X-API-Key", secret)
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				return w.Code, w.Header().Get("X-RateLimit-Remaining")
			}
			for _, step := range []struct {
				path      string
				status    int
				remaining string
			}{
				{"/bulk", 200, "6"},
				{"/bulk-write", 403, ""},
				{"/bulk", 200, "2"},
				{"/bulk", 429, map[string]string{"mux": "2", "hidden": "1"}[mode.name]}, // hidden: as seen before the refund
				{"/one", 200, "1"},
				{"/broken", 503, ""},
			} {
				status, remaining := do(step.path)
				assert.Equal(t, step.status, status, step.path)
				if step.remaining != "" {
					assert.Equal(t, step.remaining, remaining, step.path)
				}
			}
		})
	}
}
