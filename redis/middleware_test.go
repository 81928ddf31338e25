package redis_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/redis"
	"github.com/keyward/apikey/store/memstore"
)

// One decision per request on the Redis limiter (issue 15): 403s, 401s and
// route 429s take nothing from the key's, the owner's or a route's limits,
// nor from the quota, whether the middleware sees the routes (a ServeMux)
// or not (behind another router: refunds).

const (
	mwKeyLimit   = 3
	mwOwnerLimit = 5
	mwQuota      = 10
)

func mwRoutes() *http.ServeMux {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux := http.NewServeMux()
	mux.Handle("GET /read", apikey.RequireScopes("read")(ok))
	mux.Handle("GET /write", apikey.LimitRoute("writes", apikey.PerHour(5), apikey.PerOwner)(apikey.RequireScopes("write")(ok)))
	mux.Handle("GET /tight", apikey.RequireScopes("read")(apikey.LimitRoute("tight", apikey.PerHour(1), apikey.PerOwner)(ok)))
	return mux
}

var mwModes = []struct {
	name string
	wrap func(*http.ServeMux) http.Handler
}{
	{"mux", func(mux *http.ServeMux) http.Handler { return mux }},
	{"hidden", func(mux *http.ServeMux) http.Handler { return http.HandlerFunc(mux.ServeHTTP) }},
}

func mwManager(t *testing.T, prefix string, opts ...apikey.Option) *apikey.Manager {
	// A generous timeout: these tests count decisions, and on a loaded
	// machine a decision cut off at the default second may have taken its
	// token on the server already (see redis/README.md); stalls have their
	// own tests.
	lim := newLimiter(t, newClient(t), prefix, redis.WithTTLMargin(time.Hour), redis.WithTimeout(30*time.Second))
	return newManager(t, memstore.New(), append([]apikey.Option{
		apikey.WithLimiter(lim), fixedClock(base),
		apikey.WithKeyLimit(apikey.PerHour(mwKeyLimit)),
		apikey.WithPlans(map[string]apikey.Limit{"org": apikey.PerHour(mwOwnerLimit)}),
		apikey.WithOwnerPlan(func(string) string { return "org" }),
	}, opts...)...)
}

func mwGet(t testing.TB, url, key string) int {
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
	return res.StatusCode
}

func TestMiddlewareRefusalsSpendNothing(t *testing.T) {
	t.Parallel()
	for _, mode := range mwModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			m := mwManager(t, unique("mw-refusals-"+mode.name))
			k, secret, err := m.Create(ctx, apikey.CreateParams{Name: "reader", OwnerID: "acme", Scopes: []string{"read"},
				Quota: &apikey.Quota{Limit: mwQuota}})
			require.NoError(t, err)
			other := newManager(t, memstore.New())
			_, unknown, err := other.Create(ctx, apikey.CreateParams{Name: "elsewhere"})
			require.NoError(t, err)
			srv := httptest.NewServer(m.Middleware()(mode.wrap(mwRoutes())))
			t.Cleanup(srv.Close)

			_, err = m.Allow(ctx, apikey.LimitRequest{Key: apikey.LimitKey{Policy: "route:tight", Subject: "owner\x00acme"},
				Limit: apikey.PerHour(1), Cost: 1, Name: "tight"})
			require.NoError(t, err)
			for range 10 {
				require.Equal(t, http.StatusForbidden, mwGet(t, srv.URL+"/write", secret))
				require.Equal(t, http.StatusTooManyRequests, mwGet(t, srv.URL+"/tight", secret))
				require.Equal(t, http.StatusUnauthorized, mwGet(t, srv.URL+"/read", unknown))
			}
			for i := range mwKeyLimit {
				require.Equal(t, http.StatusOK, mwGet(t, srv.URL+"/read", secret), "request %d of %d", i+1, mwKeyLimit)
			}
			require.Equal(t, http.StatusTooManyRequests, mwGet(t, srv.URL+"/read", secret))

			got, err := m.Get(ctx, k.ID)
			require.NoError(t, err)
			assert.Equal(t, int64(mwQuota-mwKeyLimit), got.Quota.Remaining, "the quota paid for the successes only")
			_, err = m.Allow(ctx, apikey.LimitRequest{Key: apikey.LimitKey{Policy: "owner", Subject: "acme"},
				Limit: apikey.PerHour(mwOwnerLimit), Cost: mwOwnerLimit - mwKeyLimit, Name: "owner"})
			assert.NoError(t, err, "the owner's limit paid for the successes only")
			_, err = m.Allow(ctx, apikey.LimitRequest{Key: apikey.LimitKey{Policy: "route:writes", Subject: "owner\x00acme"},
				Limit: apikey.PerHour(5), Cost: 5, Name: "writes"})
			assert.NoError(t, err, "the 403s took nothing from the route limit around the scope gate")
		})
	}
}

// Exactly L of N ≫ L concurrent requests pass, forbidden and route-limited
// ones among them.
func TestMiddlewareExactlyLWithMixedRoutes(t *testing.T) {
	t.Parallel()
	const n, limit = 200, 15
	for _, mode := range mwModes {
		t.Run(mode.name, func(t *testing.T) {
			t.Parallel()
			m := mwManager(t, unique("mw-exact-"+mode.name), apikey.WithKeyLimit(apikey.PerHour(limit)),
				apikey.WithOwnerPlan(func(string) string { return "" }))
			_, secret, err := m.Create(context.Background(), apikey.CreateParams{Name: "r", OwnerID: "acme", Scopes: []string{"read"}})
			require.NoError(t, err)
			srv := httptest.NewServer(m.Middleware()(mode.wrap(mwRoutes())))
			t.Cleanup(srv.Close)
			paths := []string{"/read", "/write", "/tight", "/read", "/write"}
			var passed atomic.Int64
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					if mwGet(t, srv.URL+paths[i%len(paths)], secret) == http.StatusOK {
						passed.Add(1)
					}
				})
			}
			wg.Wait()
			if mode.name == "mux" {
				assert.Equal(t, int64(limit), passed.Load(), "exactly the key's limit")
				return
			}
			// Behind a router the middleware cannot see into, a read may be
			// refused while a forbidden request holds a token it gives back:
			// none is lost, none added.
			assert.LessOrEqual(t, passed.Load(), int64(limit))
			for passed.Load() < limit {
				require.Equal(t, http.StatusOK, mwGet(t, srv.URL+"/read", secret), "passed "+strconv.FormatInt(passed.Load(), 10))
				passed.Add(1)
			}
			assert.Equal(t, http.StatusTooManyRequests, mwGet(t, srv.URL+"/read", secret))
		})
	}
}
