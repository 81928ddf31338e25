package apikey_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func requireRateLimited(t *testing.T, err error) *apikey.RateLimitError {
	t.Helper()
	var rle *apikey.RateLimitError
	require.ErrorAs(t, err, &rle)
	require.ErrorIs(t, err, apikey.ErrRateLimited)
	require.NotErrorIs(t, err, apikey.ErrInvalidKey)
	return rle
}

func TestKeyLimitAndWindowBoundary(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newManager(t, memstore.New(), apikey.WithKeyLimit(apikey.PerMinute(3)))
		_, secret := create(t, m, apikey.CreateParams{})
		for i := range 3 {
			_, d, err := m.Check(ctx, secret, apikey.CheckOptions{})
			require.NoError(t, err)
			assert.Equal(t, 2-i, d.Remaining)
			assert.Equal(t, 3, d.Limit)
			assert.Equal(t, "key", d.Policy)
			assert.Equal(t, time.Minute, d.Window)
		}
		_, err := m.Verify(ctx, secret)
		rle := requireRateLimited(t, err)
		assert.Equal(t, 20*time.Second, rle.Decision.RetryAfter, "one request refills every 20 s")
		assert.Equal(t, 0, rle.Decision.Remaining)

		time.Sleep(20*time.Second - time.Nanosecond)
		_, err = m.Verify(ctx, secret)
		requireRateLimited(t, err)
		time.Sleep(time.Nanosecond) // exactly at the boundary
		_, err = m.Verify(ctx, secret)
		assert.NoError(t, err)
	})
}

func TestPlansAndOverrides(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t, memstore.New(),
		apikey.WithKeyLimit(apikey.PerMinute(100)),
		apikey.WithPlans(map[string]apikey.Limit{"free": apikey.PerMinute(2), "team": apikey.PerMinute(5)}))
	_, free := create(t, m, apikey.CreateParams{Plan: "free"})
	own, _ := create(t, m, apikey.CreateParams{Plan: "team", RateLimit: apikey.PerMinute(1)})
	_, _, err := m.Create(ctx, apikey.CreateParams{Name: "k", Plan: "platinum"})
	var pe *apikey.ParamError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "plan", pe.Field)
	_, _, err = m.Create(ctx, apikey.CreateParams{Name: "k", RateLimit: apikey.Limit{Requests: -1, Period: time.Second}})
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "rate_limit", pe.Field)

	for range 2 {
		_, d, err := m.Check(ctx, free, apikey.CheckOptions{})
		require.NoError(t, err)
		assert.Equal(t, "plan:free", d.Policy)
	}
	_, err = m.Verify(ctx, free)
	assert.Equal(t, "plan:free", requireRateLimited(t, err).Decision.Policy)

	got, err := m.Get(ctx, own.ID)
	require.NoError(t, err)
	assert.Equal(t, apikey.PerMinute(1), got.RateLimit, "the key's own limit is stored")
	assert.Equal(t, "team", got.Plan)
}

func TestOwnerLimitIsSharedAndTightestDecides(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t, memstore.New(),
		apikey.WithKeyLimit(apikey.PerMinute(10)),
		apikey.WithPlans(map[string]apikey.Limit{"starter": apikey.PerMinute(3)}),
		apikey.WithOwnerPlan(func(owner string) string {
			if owner == "org_small" {
				return "starter"
			}
			return ""
		}))
	_, a := create(t, m, apikey.CreateParams{OwnerID: "org_small"})
	_, b := create(t, m, apikey.CreateParams{OwnerID: "org_small"})
	_, other := create(t, m, apikey.CreateParams{OwnerID: "org_big"})

	_, d, err := m.Check(ctx, a, apikey.CheckOptions{})
	require.NoError(t, err)
	assert.Equal(t, "owner:starter", d.Policy, "3/min for the owner is tighter than 10/min for the key")
	assert.Equal(t, 2, d.Remaining)
	_, err = m.Verify(ctx, b)
	require.NoError(t, err)
	_, err = m.Verify(ctx, a)
	require.NoError(t, err)
	_, err = m.Verify(ctx, b)
	assert.Equal(t, "owner:starter", requireRateLimited(t, err).Decision.Policy, "both keys drew on one budget")

	// Atomic: the refused request took nothing from key b's own limit.
	_, d, err = m.Check(ctx, other, apikey.CheckOptions{})
	require.NoError(t, err)
	assert.Equal(t, "key", d.Policy)
	assert.Equal(t, 9, d.Remaining)
}

func TestFailuresNeverConsumeLimits(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t, memstore.New(), apikey.WithKeyLimit(apikey.PerMinute(2)))
	k, secret := create(t, m, apikey.CreateParams{Scopes: []string{"read"}})
	for range 10 {
		_, err := m.Verify(ctx, secret, "write") // 403: not counted
		require.ErrorIs(t, err, apikey.ErrInsufficientScope)
	}
	_, d, err := m.Check(ctx, secret, apikey.CheckOptions{Scopes: []string{"read"}})
	require.NoError(t, err)
	assert.Equal(t, 1, d.Remaining)
	_, err = m.Disable(ctx, k.ID)
	require.NoError(t, err)
	for range 10 {
		_, err := m.Verify(ctx, secret)
		require.ErrorIs(t, err, apikey.ErrDisabled)
	}
	_, err = m.Enable(ctx, k.ID)
	require.NoError(t, err)
	_, err = m.Verify(ctx, secret)
	assert.NoError(t, err, "the disabled attempts took nothing")
}

func TestCost(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t, memstore.New(), apikey.WithKeyLimit(apikey.PerMinute(10)))
	_, secret := create(t, m, apikey.CreateParams{})
	_, d, err := m.Check(ctx, secret, apikey.CheckOptions{Cost: 7})
	require.NoError(t, err)
	assert.Equal(t, 3, d.Remaining)
	_, _, err = m.Check(ctx, secret, apikey.CheckOptions{Cost: 4})
	requireRateLimited(t, err)
	_, _, err = m.Check(ctx, secret, apikey.CheckOptions{Cost: 11})
	assert.Equal(t, time.Minute, requireRateLimited(t, err).Decision.RetryAfter, "a cost above the burst never fits")
}

// N goroutines on a key with limit L in one window: exactly L pass.
func TestExactlyLUnderConcurrency(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const limit = 50
	m := newManager(t, memstore.New(), apikey.WithKeyLimit(apikey.PerHour(limit)),
		apikey.WithClock(func() time.Time { return now }))
	_, secret := create(t, m, apikey.CreateParams{})
	var allowed, refused atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 40 {
				_, err := m.Verify(ctx, secret)
				switch {
				case err == nil:
					allowed.Add(1)
				case errors.Is(err, apikey.ErrRateLimited):
					refused.Add(1)
				default:
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	assert.Equal(t, int64(limit), allowed.Load())
	assert.Equal(t, int64(8*40-limit), refused.Load())
}

func TestLocalLimiterMemoryIsBounded(t *testing.T) {
	t.Parallel()
	l := apikey.NewLocalLimiter(4096)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 1_000_000 {
		req := []apikey.LimitRequest{{Key: apikey.LimitKey{Policy: "key", Subject: strconv.Itoa(i)}, Limit: apikey.PerMinute(5), Cost: 1}}
		d, err := l.Allow(context.Background(), now.Add(time.Duration(i)*time.Microsecond), req)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	assert.LessOrEqual(t, apikey.LimiterBuckets(l), 4096, "a million distinct keys stay within the bound")
}

func TestVerifyWithLimitDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	m := newManager(t, memstore.New(), apikey.WithKeyLimit(apikey.PerSecond(1_000_000_000)))
	_, secret := create(t, m, apikey.CreateParams{Scopes: []string{"read"}})
	_, err := m.Verify(ctx, secret, "read")
	require.NoError(t, err)
	assert.Zero(t, testing.AllocsPerRun(200, func() { _, _ = m.Verify(ctx, secret, "read") }))
}

// Middleware: headers on authenticated answers, the 429 body, none on 401.
func TestMiddlewareRateLimitHeaders(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newManager(t, memstore.New(), apikey.WithKeyLimit(apikey.PerMinute(2)))
		_, secret := create(t, m, apikey.CreateParams{})
		h := m.Middleware(apikey.RateLimitHeadersDraft())(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		do := func(key string) *httptest.ResponseRecorder {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("Authorization", "Bearer "+key)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w
		}
		resetAt := strconv.FormatInt(time.Now().Add(30*time.Second).Unix(), 10)
		w := do(secret)
		require.Equal(t, 200, w.Code)
		assert.Equal(t, "2", w.Header().Get("X-RateLimit-Limit"))
		assert.Equal(t, "1", w.Header().Get("X-RateLimit-Remaining"))
		assert.Equal(t, resetAt, w.Header().Get("X-RateLimit-Reset"), "epoch seconds when full again")
		assert.Equal(t, `"key";q=2;w=60`, w.Header().Get("RateLimit-Policy"))
		assert.Equal(t, `"key";r=1;t=30`, w.Header().Get("RateLimit"))

		require.Equal(t, 200, do(secret).Code)
		w = do(secret)
		require.Equal(t, http.StatusTooManyRequests, w.Code)
		assert.Equal(t, "30", w.Header().Get("Retry-After"))
		assert.Equal(t, "0", w.Header().Get("X-RateLimit-Remaining"))
		assert.Equal(t, "no-store", w.Header().Get("Cache-Control"))
		assert.JSONEq(t, `{"error":{"code":"rate_limit_exceeded","message":"Rate limit exceeded. Retry after 30 seconds.","retry_after":30}}`, w.Body.String())

		w = do(wrongChecksum(secret))
		require.Equal(t, 401, w.Code)
		assert.Empty(t, w.Header().Get("X-RateLimit-Limit"), "no rate-limit headers on 401")
		assert.Empty(t, w.Header().Get("RateLimit"))
	})
}

func TestDraftFieldsSerialisation(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	policy, state := apikey.DraftFields(apikey.Decision{Policy: `plan:"odd"\`, Limit: 100, Window: 90 * time.Second,
		Remaining: 7, Reset: now.Add(2500 * time.Millisecond)}, now)
	assert.Equal(t, `"plan:\"odd\"\\";q=100;w=90`, policy)
	assert.Equal(t, `"plan:\"odd\"\\";r=7;t=3`, state)

	// A quota that never refills: no window, no reset time.
	policy, state = apikey.DraftFields(apikey.Decision{Policy: "quota", Limit: 1, Remaining: 0}, now)
	assert.Equal(t, `"quota";q=1`, policy)
	assert.Equal(t, `"quota";r=0`, state)
}

func TestLimitRoute(t *testing.T) {
	t.Parallel()
	m := newManager(t, memstore.New(), apikey.WithKeyLimit(apikey.PerMinute(100)))
	_, secret := create(t, m, apikey.CreateParams{OwnerID: "org"})
	mux := http.NewServeMux()
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	mux.Handle("POST /endpoints/{id}/test", apikey.LimitRoute("endpoint_tests", apikey.PerMinute(2), apikey.PerPathValue("id"))(ok))
	h := m.Middleware()(mux)
	do := func(path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, nil)
		r.Header.Set("X-API-Key", secret)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := do("/endpoints/ep_1/test")
	require.Equal(t, 200, w.Code)
	assert.Equal(t, "2", w.Header().Get("X-RateLimit-Limit"), "the route's limit is tighter than the key's")
	assert.Equal(t, "1", w.Header().Get("X-RateLimit-Remaining"))
	require.Equal(t, 200, do("/endpoints/ep_1/test").Code)
	w = do("/endpoints/ep_1/test")
	assert.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Equal(t, "30", w.Header().Get("Retry-After"))
	assert.Equal(t, 200, do("/endpoints/ep_2/test").Code, "counted per endpoint")
}

func TestFailureThrottle(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := newCountingStore()
		m := newManager(t, store)
		_, secret := create(t, m, apikey.CreateParams{})
		other := newManager(t, memstore.New())
		_, unknown := create(t, other, apikey.CreateParams{})
		h := m.Middleware(apikey.ThrottleFailures(apikey.PerMinute(3)), apikey.TrustedProxies(netip.MustParsePrefix("10.0.0.0/8")))(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		do := func(key, peer, xff string) int {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = peer
			if xff != "" {
				r.Header.Set("X-Forwarded-For", xff)
			}
			r.Header.Set("X-API-Key", key)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			return w.Code
		}
		for range 3 {
			require.Equal(t, 401, do(unknown, "203.0.113.9:4000", ""))
		}
		reads := store.reads.Load()
		assert.Equal(t, 429, do(unknown, "203.0.113.9:4001", ""), "the fourth failure is throttled")
		assert.Equal(t, 429, do(secret, "203.0.113.9:4002", ""), "the client is throttled, whatever it sends")
		assert.Equal(t, reads, store.reads.Load(), "throttled before any store work")
		assert.Equal(t, 200, do(secret, "198.51.100.7:5000", ""), "another client, same key: no lockout of the key")

		// Behind a trusted proxy the client is taken from X-Forwarded-For;
		// an untrusted peer's X-Forwarded-For is ignored.
		for range 3 {
			require.Equal(t, 401, do(unknown, "10.1.2.3:80", "192.0.2.50"))
		}
		_, uncached := create(t, m, apikey.CreateParams{})
		assert.Equal(t, 429, do(uncached, "10.1.2.3:80", "192.0.2.50"), "a key that would cost a lookup is throttled")
		assert.Equal(t, 200, do(secret, "10.1.2.3:80", "192.0.2.50"), "a key in the verification cache costs no lookup: it passes")
		assert.Equal(t, 200, do(uncached, "10.1.2.3:80", "192.0.2.51"))
		assert.Equal(t, 200, do(secret, "198.51.100.8:80", "203.0.113.9"), "spoofed X-Forwarded-For is not believed")

		time.Sleep(20 * time.Second) // one failure's worth refills
		assert.Equal(t, 200, do(secret, "203.0.113.9:4003", ""))
	})
}

func TestThrottleClientAddress(t *testing.T) {
	t.Parallel()
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	for _, tc := range []struct {
		name, peer string
		xff        []string
		want       string
	}{
		{"peer", "203.0.113.9:4000", nil, "203.0.113.9"},
		{"untrusted peer's X-Forwarded-For is ignored", "203.0.113.9:4000", []string{"198.51.100.1"}, "203.0.113.9"},
		{"client behind a proxy", "10.0.0.2:80", []string{"198.51.100.1"}, "198.51.100.1"},
		{"a port on the client is not a new client", "10.0.0.2:80", []string{"198.51.100.1:51234"}, "198.51.100.1"},
		{"a port on a trusted hop", "10.0.0.2:80", []string{"198.51.100.1, 10.0.0.3:8080"}, "198.51.100.1"},
		{"several header lines", "10.0.0.2:80", []string{"198.51.100.7", "198.51.100.1 , 10.0.0.3"}, "198.51.100.1"},
		{"garbage stops the chain at the last good hop", "10.0.0.2:80", []string{"198.51.100.1, not-an-ip, 10.0.0.3"}, "10.0.0.3"},
		{"only proxies", "10.0.0.2:80", []string{"10.0.0.9"}, "10.0.0.9"},
		{"IPv6 is counted per /64", "[2001:db8:1:2:aaaa::1]:443", nil, "2001:db8:1:2::/64"},
		{"bare IPv6 in X-Forwarded-For", "[fd00::1]:443", []string{"2001:db8:1:2::99"}, "2001:db8:1:2::/64"},
		{"IPv4-mapped IPv6", "[::ffff:203.0.113.9]:80", nil, "203.0.113.9"},
	} {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tc.peer
		for _, v := range tc.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		assert.Equal(t, tc.want, apikey.ClientAddr(r, proxies...), tc.name)
	}
}

// Blocks expire by themselves: once they have, the success path is back to
// one atomic load.
func TestThrottleBlocksExpire(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		m := newManager(t, memstore.New())
		other := newManager(t, memstore.New())
		_, unknown := create(t, other, apikey.CreateParams{})
		h := m.Middleware(apikey.ThrottleFailures(apikey.PerMinute(2)))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		for range 3 {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("X-API-Key", unknown)
			h.ServeHTTP(httptest.NewRecorder(), r)
		}
		require.Equal(t, int32(1), apikey.BlockedClients(h))
		time.Sleep(2 * time.Minute)
		r := httptest.NewRequest(http.MethodGet, "/", nil) // any request sweeps
		h.ServeHTTP(httptest.NewRecorder(), r)
		assert.Equal(t, int32(0), apikey.BlockedClients(h))
	})
}

// The same bucket twice in one decision is one request of the summed cost,
// not two checks against the same tokens.
func TestDuplicateLimitKeysAreMerged(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t, memstore.New())
	req := apikey.LimitRequest{Key: apikey.LimitKey{Policy: "p", Subject: "s"}, Limit: apikey.PerHour(1), Cost: 1, Name: "p"}
	_, err := m.Allow(ctx, req, req)
	requireRateLimited(t, err)
	_, err = m.Allow(ctx, req)
	assert.NoError(t, err, "the refused pair took nothing")
}

func TestQuotaRefusalHeadersWithoutRefill(t *testing.T) {
	t.Parallel()
	m := newManager(t, memstore.New())
	_, once := create(t, m, apikey.CreateParams{Quota: &apikey.Quota{Limit: 1}})
	h := m.Middleware(apikey.RateLimitHeadersDraft())(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	var w *httptest.ResponseRecorder
	for range 2 {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.Header.Set("X-API-Key", once)
		w = httptest.NewRecorder()
		h.ServeHTTP(w, r)
	}
	require.Equal(t, http.StatusTooManyRequests, w.Code)
	assert.Empty(t, w.Header().Get("X-RateLimit-Reset"), "no reset time to announce")
	assert.Equal(t, `"quota";r=0`, w.Header().Get("RateLimit"), "no t that would invite a retry")
	assert.Equal(t, `"quota";q=1`, w.Header().Get("RateLimit-Policy"), "no made-up window")
}

// A misconfigured route limit refuses every request rather than leave the
// route unlimited.
func TestInvalidRouteLimitFailsClosed(t *testing.T) {
	t.Parallel()
	m := newManager(t, memstore.New())
	_, secret := create(t, m, apikey.CreateParams{})
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	for name, mw := range map[string]func(http.Handler) http.Handler{
		"no name":        apikey.LimitRoute("", apikey.PerMinute(1), nil),
		"zero limit":     apikey.LimitRoute("r", apikey.Limit{}, nil),
		"negative limit": apikey.LimitRoute("r", apikey.Limit{Requests: -1, Period: time.Minute}, nil),
	} {
		h := m.Middleware()(mw(ok))
		for range 2 {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.Header.Set("X-API-Key", secret)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			assert.Equal(t, http.StatusServiceUnavailable, w.Code, name)
		}
	}
}

// refundLimiterReq is a request for bucket subject under l.
func refundLimiterReq(subject string, l apikey.Limit, cost int) apikey.LimitRequest {
	return apikey.LimitRequest{Key: apikey.LimitKey{Policy: "key", Subject: subject}, Limit: l, Cost: cost, Name: "key"}
}

// TestLocalRefund: a refund gives back exactly what an allowed request
// took, never above the burst, and leaves missing buckets alone.
func TestLocalRefund(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lim := apikey.PerMinute(10)
	allow := func(l apikey.Limiter, at time.Time, reqs ...apikey.LimitRequest) apikey.Decision {
		d, err := l.Allow(ctx, at, reqs)
		require.NoError(t, err)
		return d
	}

	t.Run("restores exactly", func(t *testing.T) {
		l := apikey.NewLocalLimiter(0)
		require.Equal(t, 7, allow(l, now, refundLimiterReq("k", lim, 3)).Remaining)
		require.NoError(t, l.Refund(ctx, now, []apikey.LimitRequest{refundLimiterReq("k", lim, 3)}))
		d := allow(l, now, refundLimiterReq("k", lim, 1))
		assert.Equal(t, 9, d.Remaining)
		assert.Equal(t, now.Add(6*time.Second), d.Reset)
	})
	t.Run("capped at burst", func(t *testing.T) {
		l := apikey.NewLocalLimiter(0)
		allow(l, now, refundLimiterReq("k", lim, 2))
		// Refilled meanwhile: the refund cannot lift it above 10.
		require.NoError(t, l.Refund(ctx, now.Add(time.Minute), []apikey.LimitRequest{refundLimiterReq("k", lim, 2)}))
		assert.Equal(t, 9, allow(l, now.Add(time.Minute), refundLimiterReq("k", lim, 1)).Remaining)
	})
	t.Run("every bucket of the request", func(t *testing.T) {
		l := apikey.NewLocalLimiter(0)
		reqs := []apikey.LimitRequest{refundLimiterReq("k", lim, 1), {Key: apikey.LimitKey{Policy: "owner", Subject: "o"}, Limit: apikey.PerMinute(2), Cost: 1, Name: "owner"}}
		require.True(t, allow(l, now, reqs...).Allowed)
		require.True(t, allow(l, now, reqs...).Allowed)
		require.False(t, allow(l, now, reqs...).Allowed)
		require.NoError(t, l.Refund(ctx, now, reqs))
		d := allow(l, now, reqs...)
		require.True(t, d.Allowed)
		assert.Equal(t, "owner", d.Policy)
		assert.Equal(t, 0, d.Remaining)
		assert.Equal(t, 7, allow(l, now, refundLimiterReq("k", lim, 1)).Remaining)
	})
	t.Run("missing bucket left alone", func(t *testing.T) {
		l := apikey.NewLocalLimiter(0)
		require.NoError(t, l.Refund(ctx, now, []apikey.LimitRequest{refundLimiterReq("never", lim, 1)}))
		assert.Zero(t, apikey.LimiterBuckets(l))
	})
}

// TestLocalRefundAsIfNeverHappened: after a refund, the later requests
// meet exactly the decisions they would have met had the refunded one
// never been made, at the same instant and after partial refills.
func TestLocalRefundAsIfNeverHappened(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 123_456_789, time.UTC)
	for _, lim := range []apikey.Limit{apikey.PerMinute(5), {Requests: 3, Period: 7 * time.Second}, {Requests: 10, Period: time.Minute, Burst: 4}} {
		for _, cost := range []int{1, 2} {
			refunded, reference := apikey.NewLocalLimiter(0), apikey.NewLocalLimiter(0)
			r := refundLimiterReq("k", lim, 1)
			for _, l := range []apikey.Limiter{refunded, reference} {
				_, err := l.Allow(ctx, now, []apikey.LimitRequest{r})
				require.NoError(t, err)
			}
			took := refundLimiterReq("k", lim, cost)
			d, err := refunded.Allow(ctx, now.Add(time.Millisecond), []apikey.LimitRequest{took})
			require.NoError(t, err)
			require.True(t, d.Allowed)
			require.NoError(t, refunded.Refund(ctx, now.Add(time.Millisecond), []apikey.LimitRequest{took}))
			passed := 0
			for i := range 40 {
				at := now.Add(time.Millisecond + time.Duration(i/4)*900*time.Millisecond)
				want, err := reference.Allow(ctx, at, []apikey.LimitRequest{r})
				require.NoError(t, err)
				got, err := refunded.Allow(ctx, at, []apikey.LimitRequest{r})
				require.NoError(t, err)
				require.Equal(t, want, got, "%s cost %d, request %d", lim, cost, i)
				if got.Allowed {
					passed++
				}
			}
			assert.Positive(t, passed)
		}
	}
}
