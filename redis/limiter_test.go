package redis_test

import (
	"context"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/redis"
)

func req(policy, subject string, l apikey.Limit, cost int) apikey.LimitRequest {
	return apikey.LimitRequest{Key: apikey.LimitKey{Policy: policy, Subject: subject}, Limit: l, Cost: cost, Name: policy}
}

func TestNewLimiterErrors(t *testing.T) {
	t.Parallel()
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	for name, opts := range map[string][]redis.Option{
		"empty prefix":     {redis.WithNamespace("")},
		"negative margin":  {redis.WithTTLMargin(-time.Second)},
		"negative timeout": {redis.WithTimeout(-time.Second)},
	} {
		_, err := redis.NewLimiter(c, opts...)
		assert.Error(t, err, name)
	}
	_, err := redis.NewLimiter(nil)
	assert.Error(t, err)
	_, err = redis.NewLimiter(c)
	assert.NoError(t, err, "NewLimiter must not need Redis to be up")
}

func TestKeyIsUnambiguous(t *testing.T) {
	t.Parallel()
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	l, err := redis.NewLimiter(c)
	require.NoError(t, err)
	keys := []apikey.LimitKey{
		{Policy: "a:b", Subject: "c"}, {Policy: "a", Subject: "b:c"}, {Policy: "a:b:c"}, {Subject: "a:b:c"},
		{Policy: "1:a", Subject: "b"}, {Policy: "1", Subject: "a:b"}, {Policy: "key", Subject: "k_1"},
		{Policy: "key", Subject: "k_1:x"}, {Policy: "", Subject: ""}, {Policy: "ab", Subject: ""}, {Policy: "a", Subject: "b"},
	}
	seen := map[string]apikey.LimitKey{}
	for _, k := range keys {
		rk := l.Key(k)
		assert.True(t, strings.HasPrefix(rk, redis.DefaultNamespace), rk)
		if other, dup := seen[rk]; dup {
			t.Errorf("%+v and %+v share the Redis key %q", k, other, rk)
		}
		seen[rk] = k
	}
	assert.Equal(t, "apikey:rl:3:key:k_1", l.Key(apikey.LimitKey{Policy: "key", Subject: "k_1"}))
}

func TestAllowRejectsInvalidLimits(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, newClient(t), unique("invalid"))
	for _, lim := range []apikey.Limit{{}, {Requests: 1}, {Period: time.Second}, {Requests: 1, Period: time.Second, Burst: -1}} {
		_, err := l.Allow(t.Context(), base, []apikey.LimitRequest{req("key", "k", lim, 1)})
		assert.Error(t, err, "%+v", lim)
	}
	d, err := l.Allow(t.Context(), base, nil)
	require.NoError(t, err)
	assert.Equal(t, apikey.Decision{Allowed: true}, d)
}

// step is one decision of a differential sequence: reqs at base+at, or
// their refund.
type step struct {
	at     time.Duration
	reqs   []apikey.LimitRequest
	refund bool
}

func repeat(n int, s step) []step {
	out := make([]step, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func seq(parts ...[]step) []step {
	var out []step
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// TestSameDecisionsAsLocal runs sequences through a LocalLimiter and the
// Redis Limiter and requires identical Decisions: the same headers
// whichever limiter runs.
func TestSameDecisionsAsLocal(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	odd := apikey.Limit{Requests: 3, Period: 7 * time.Second}
	burst := apikey.Limit{Requests: 10, Period: time.Minute, Burst: 3}
	key := func(l apikey.Limit, cost int) apikey.LimitRequest { return req("key", "k_1", l, cost) }
	owner := func(l apikey.Limit, cost int) apikey.LimitRequest { return req("owner", "org_1", l, cost) }
	route := func(l apikey.Limit, cost int) apikey.LimitRequest { return req("webhook_jobs", "k_1", l, cost) }

	cases := map[string][]step{
		"per second": seq(
			repeat(5, step{0, []apikey.LimitRequest{key(apikey.PerSecond(3), 1)}, false}),
			repeat(2, step{100 * time.Millisecond, []apikey.LimitRequest{key(apikey.PerSecond(3), 1)}, false}),
			repeat(2, step{333_333_334 * time.Nanosecond, []apikey.LimitRequest{key(apikey.PerSecond(3), 1)}, false}),
			repeat(4, step{time.Second + 1, []apikey.LimitRequest{key(apikey.PerSecond(3), 1)}, false}),
			repeat(4, step{10 * time.Second, []apikey.LimitRequest{key(apikey.PerSecond(3), 1)}, false}),
		),
		"odd period": seq(
			repeat(4, step{0, []apikey.LimitRequest{key(odd, 1)}, false}),
			repeat(2, step{2*time.Second + 333_333_333, []apikey.LimitRequest{key(odd, 1)}, false}),
			repeat(2, step{2*time.Second + 333_333_334, []apikey.LimitRequest{key(odd, 1)}, false}),
			repeat(3, step{9*time.Second + 17, []apikey.LimitRequest{key(odd, 1)}, false}),
		),
		"burst below requests": seq(
			repeat(4, step{0, []apikey.LimitRequest{key(burst, 1)}, false}),
			repeat(2, step{5 * time.Second, []apikey.LimitRequest{key(burst, 1)}, false}),
			repeat(2, step{6 * time.Second, []apikey.LimitRequest{key(burst, 1)}, false}),
		),
		"costs": seq(
			[]step{{0, []apikey.LimitRequest{key(apikey.PerMinute(10), 4)}, false}},
			[]step{{0, []apikey.LimitRequest{key(apikey.PerMinute(10), 4)}, false}},
			[]step{{0, []apikey.LimitRequest{key(apikey.PerMinute(10), 4)}, false}},
			[]step{{0, []apikey.LimitRequest{key(apikey.PerMinute(10), 11)}, false}}, // never fits
			[]step{{30 * time.Second, []apikey.LimitRequest{key(apikey.PerMinute(10), 0)}, false}},
			[]step{{31 * time.Second, []apikey.LimitRequest{key(apikey.PerMinute(10), 7)}, false}},
		),
		"several limits": seq(
			repeat(3, step{0, []apikey.LimitRequest{key(apikey.PerSecond(5), 1), owner(apikey.PerMinute(4), 1)}, false}),
			repeat(3, step{0, []apikey.LimitRequest{key(apikey.PerSecond(5), 1), owner(apikey.PerMinute(4), 1), route(apikey.PerSecond(2), 1)}, false}),
			repeat(3, step{500 * time.Millisecond, []apikey.LimitRequest{route(apikey.PerSecond(2), 1), key(apikey.PerSecond(5), 1)}, false}),
			repeat(2, step{15 * time.Second, []apikey.LimitRequest{key(apikey.PerSecond(5), 1), owner(apikey.PerMinute(4), 1)}, false}),
		),
		"limit changes": seq(
			repeat(3, step{0, []apikey.LimitRequest{key(apikey.PerSecond(5), 1)}, false}),
			repeat(2, step{100 * time.Millisecond, []apikey.LimitRequest{key(apikey.PerSecond(2), 1)}, false}),
			repeat(2, step{700 * time.Millisecond, []apikey.LimitRequest{key(apikey.Limit{Requests: 2, Period: time.Second, Burst: 6}, 1)}, false}),
			repeat(3, step{2 * time.Second, []apikey.LimitRequest{key(apikey.PerMinute(100), 1)}, false}),
			repeat(2, step{2 * time.Second, []apikey.LimitRequest{key(apikey.Limit{Requests: 2, Period: time.Second, Burst: 2}, 1)}, false}),
			repeat(2, step{2 * time.Second, []apikey.LimitRequest{key(apikey.PerSecond(2), 1)}, false}), // same rate, other struct
		),
		"refunds": seq(
			repeat(3, step{0, []apikey.LimitRequest{key(apikey.PerSecond(3), 1)}, false}),
			[]step{{0, []apikey.LimitRequest{key(apikey.PerSecond(3), 2)}, true}},
			repeat(3, step{100 * time.Millisecond, []apikey.LimitRequest{key(apikey.PerSecond(3), 1)}, false}),
			[]step{{5 * time.Second, []apikey.LimitRequest{key(apikey.PerSecond(3), 3)}, true}}, // capped at the burst
			repeat(4, step{5 * time.Second, []apikey.LimitRequest{key(apikey.PerSecond(3), 1)}, false}),
			repeat(2, step{6 * time.Second, []apikey.LimitRequest{key(odd, 1), owner(apikey.PerMinute(4), 1)}, false}),
			[]step{{6*time.Second + 333_333_333, []apikey.LimitRequest{key(odd, 1), owner(apikey.PerMinute(4), 1)}, true}},
			repeat(4, step{7 * time.Second, []apikey.LimitRequest{key(odd, 1), owner(apikey.PerMinute(4), 1)}, false}),
			[]step{{7 * time.Second, []apikey.LimitRequest{route(apikey.PerSecond(1), 1)}, true}}, // no bucket: left alone
			repeat(2, step{7 * time.Second, []apikey.LimitRequest{route(apikey.PerSecond(1), 1)}, false}),
		),
		"clock behind": seq(
			repeat(11, step{time.Second, []apikey.LimitRequest{key(apikey.PerSecond(10), 1)}, false}),
			repeat(2, step{500 * time.Millisecond, []apikey.LimitRequest{key(apikey.PerSecond(10), 1)}, false}),
			[]step{{500 * time.Millisecond, []apikey.LimitRequest{key(apikey.PerSecond(10), 1)}, true}},
			repeat(2, step{time.Second, []apikey.LimitRequest{key(apikey.PerSecond(10), 1)}, false}),
			repeat(2, step{time.Second + 100*time.Millisecond, []apikey.LimitRequest{key(apikey.PerSecond(10), 1)}, false}),
		),
		"repeated key": seq(
			repeat(3, step{0, []apikey.LimitRequest{key(apikey.PerSecond(4), 1), key(apikey.PerSecond(4), 1)}, false}),
			repeat(2, step{time.Second, []apikey.LimitRequest{key(apikey.PerSecond(4), 2), key(apikey.PerMinute(3), 1)}, false}),
		),
	}
	for name, steps := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			compare(t, newLimiter(t, c, unique("diff")), steps)
		})
	}
	for _, gap := range []time.Duration{400 * time.Millisecond, 2 * time.Second} {
		t.Run("random gaps up to "+gap.String(), func(t *testing.T) {
			t.Parallel()
			randomSteps(t, c, gap)
		})
	}
}

// randomSteps compares 2000 random decisions over three buckets and five
// limits, gap apart at most.
func randomSteps(t *testing.T, c *goredis.Client, gap time.Duration) {
	odd := apikey.Limit{Requests: 3, Period: 7 * time.Second}
	burst := apikey.Limit{Requests: 10, Period: time.Minute, Burst: 3}
	rng := rand.New(rand.NewPCG(1, uint64(gap)))
	limits := []apikey.Limit{apikey.PerSecond(3), odd, burst, apikey.PerMinute(7), {Requests: 5, Period: 1500 * time.Millisecond, Burst: 8}}
	var steps []step
	at := time.Duration(0)
	for range 2000 {
		at += time.Duration(rng.Int64N(int64(gap)))
		var reqs []apikey.LimitRequest
		for _, p := range rng.Perm(3)[:1+rng.IntN(3)] {
			reqs = append(reqs, req([]string{"key", "owner", "route"}[p], "s", limits[(p+rng.IntN(2))%len(limits)], rng.IntN(3)))
		}
		steps = append(steps, step{at, reqs, false})
		if rng.IntN(5) == 0 { // give it back, allowed or not: capped at the burst either way
			steps = append(steps, step{at, reqs, true})
		}
	}
	compare(t, newLimiter(t, c, unique("diff")), steps)
}

func compare(t *testing.T, remote *redis.Limiter, steps []step) {
	t.Helper()
	local := apikey.NewLocalLimiter(0)
	allowed := 0
	for i, s := range steps {
		now := base.Add(s.at)
		if s.refund {
			require.NoError(t, local.Refund(t.Context(), now, s.reqs))
			require.NoError(t, remote.Refund(t.Context(), now, s.reqs))
			continue
		}
		want, err := local.Allow(t.Context(), now, s.reqs)
		require.NoError(t, err)
		got, err := remote.Allow(t.Context(), now, s.reqs)
		require.NoError(t, err)
		require.Equal(t, want, got, "step %d at +%s: %+v", i, s.at, s.reqs)
		if got.Allowed {
			allowed++
		}
	}
	t.Logf("%d decisions, %d allowed, identical", len(steps), allowed)
}

// TestClockBehind: a decision at a time before the bucket's last update
// (an instance whose clock is behind) gets no refill and does not move the
// bucket back, so the next decision at the later time is not credited the
// same interval twice. LocalLimiter does the same.
func TestClockBehind(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, newClient(t), unique("behind"))
	r := []apikey.LimitRequest{req("key", "k", apikey.PerSecond(10), 1)}
	allow := func(at time.Duration) apikey.Decision {
		d, err := l.Allow(t.Context(), base.Add(at), r)
		require.NoError(t, err)
		return d
	}
	for range 10 {
		require.True(t, allow(time.Second).Allowed)
	}
	require.False(t, allow(time.Second).Allowed)
	// 500 ms behind: no refill; then back at +1 s: still nothing.
	for range 3 {
		d := allow(500 * time.Millisecond)
		assert.False(t, d.Allowed)
		assert.Equal(t, 100*time.Millisecond, d.RetryAfter)
		assert.False(t, allow(time.Second).Allowed, "the interval behind was credited")
	}
	assert.True(t, allow(time.Second+100*time.Millisecond).Allowed)
}

// TestAtomicAcrossBuckets: a request whose second limit is exhausted takes
// nothing from the first.
func TestAtomicAcrossBuckets(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, newClient(t), unique("atomic"))
	key := req("key", "k_1", apikey.PerMinute(10), 1)
	owner := req("owner", "org_1", apikey.PerMinute(2), 1)
	for range 2 {
		d, err := l.Allow(t.Context(), base, []apikey.LimitRequest{key, owner})
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	for range 20 {
		d, err := l.Allow(t.Context(), base, []apikey.LimitRequest{key, owner})
		require.NoError(t, err)
		require.False(t, d.Allowed)
		assert.Equal(t, "owner", d.Policy)
		assert.Equal(t, 30*time.Second, d.RetryAfter)
	}
	d, err := l.Allow(t.Context(), base, []apikey.LimitRequest{key})
	require.NoError(t, err)
	assert.True(t, d.Allowed)
	assert.Equal(t, 7, d.Remaining, "refused decisions took from the key's bucket")
}

// TestExactlyLimitUnderConcurrency: many goroutines on one key with limit
// L at one instant: exactly L pass.
func TestExactlyLimitUnderConcurrency(t *testing.T) {
	t.Parallel()
	const limit, workers, each = 300, 32, 25
	l := newLimiter(t, newClient(t), unique("exact"), redis.WithTTLMargin(time.Hour))
	r := []apikey.LimitRequest{req("key", "k_1", apikey.PerSecond(limit), 1)}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for range each {
				d, err := l.Allow(context.Background(), base, r)
				if !assert.NoError(t, err) {
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	assert.EqualValues(t, limit, allowed.Load())
}

// TestBucketsExpire: a bucket lives until it would be full again, plus the
// margin, so idle buckets leave Redis.
func TestBucketsExpire(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	l := newLimiter(t, c, unique("ttl"), redis.WithTTLMargin(250*time.Millisecond))
	k := apikey.LimitKey{Policy: "key", Subject: "k_1"}
	r := []apikey.LimitRequest{{Key: k, Limit: apikey.PerSecond(10), Cost: 5, Name: "key"}}
	_, err := l.Allow(t.Context(), base, r)
	require.NoError(t, err)
	ttl, err := c.PTTL(t.Context(), l.Key(k)).Result()
	require.NoError(t, err)
	assert.Greater(t, ttl, 500*time.Millisecond)
	assert.LessOrEqual(t, ttl, 750*time.Millisecond)

	// A refused decision writes nothing: a new bucket stays absent.
	k2 := apikey.LimitKey{Policy: "key", Subject: "k_2"}
	d, err := l.Allow(t.Context(), base, []apikey.LimitRequest{{Key: k2, Limit: apikey.PerSecond(10), Cost: 11, Name: "key"}})
	require.NoError(t, err)
	require.False(t, d.Allowed)
	n, err := c.Exists(t.Context(), l.Key(k2)).Result()
	require.NoError(t, err)
	assert.Zero(t, n)
}

// TestRedisTime: with WithRedisTime the time passed in is ignored.
func TestRedisTime(t *testing.T) {
	t.Parallel()
	l := newLimiter(t, newClient(t), unique("time"), redis.WithRedisTime())
	r := []apikey.LimitRequest{req("key", "k_1", apikey.PerMinute(1), 1)}
	long := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	d, err := l.Allow(t.Context(), long, r)
	require.NoError(t, err)
	require.True(t, d.Allowed)
	assert.WithinDuration(t, time.Now().Add(time.Minute), d.Reset, 5*time.Second)
	// A year later by the caller's clock: still refused.
	d, err = l.Allow(t.Context(), long.AddDate(1, 0, 0), r)
	require.NoError(t, err)
	assert.False(t, d.Allowed)
	assert.Greater(t, d.RetryAfter, 50*time.Second)
}

// countHook counts the commands a client sends (a pipeline counts once:
// one round trip).
type countHook struct{ n atomic.Int64 }

func (h *countHook) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *countHook) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}
func (h *countHook) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmds)
	}
}

// TestOneRoundTrip: a decision over three buckets is one command (EVALSHA)
// once the script is loaded; before, EVALSHA fails over to EVAL.
func TestOneRoundTrip(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	hook := &countHook{}
	c.AddHook(hook)
	l := newLimiter(t, c, unique("trips"))
	reqs := []apikey.LimitRequest{req("key", "k", apikey.PerSecond(100), 1), req("owner", "o", apikey.PerSecond(100), 1), req("route", "k", apikey.PerSecond(100), 1)}
	_, err := l.Allow(t.Context(), base, reqs) // may load the script
	require.NoError(t, err)
	before := hook.n.Load()
	for i := range 10 {
		_, err := l.Allow(t.Context(), base.Add(time.Duration(i)*time.Millisecond), reqs)
		require.NoError(t, err)
	}
	assert.EqualValues(t, 10, hook.n.Load()-before)
}

// TestRefund: a refund gives back exactly what an allowed decision took,
// never above the burst, in one round trip, and creates no bucket.
func TestRefund(t *testing.T) {
	t.Parallel()
	c := newClient(t)
	hook := &countHook{}
	c.AddHook(hook)
	l := newLimiter(t, c, unique("refund"))
	lim := apikey.PerMinute(10)
	key, owner := req("key", "k", lim, 3), req("owner", "o", apikey.PerMinute(4), 3)
	allow := func(at time.Duration, reqs ...apikey.LimitRequest) apikey.Decision {
		d, err := l.Allow(t.Context(), base.Add(at), reqs)
		require.NoError(t, err)
		return d
	}
	require.NoError(t, l.Refund(t.Context(), base, []apikey.LimitRequest{req("key", "warm-up", lim, 1)})) // loads the script
	require.True(t, allow(0, key, owner).Allowed)
	require.False(t, allow(0, key, owner).Allowed)
	before := hook.n.Load()
	require.NoError(t, l.Refund(t.Context(), base, []apikey.LimitRequest{key, owner}))
	assert.EqualValues(t, 1, hook.n.Load()-before, "one round trip")
	d := allow(0, key, owner)
	require.True(t, d.Allowed, "the refund restored both buckets")
	assert.Equal(t, "owner", d.Policy)
	assert.Equal(t, 1, d.Remaining)
	assert.Equal(t, 6, allow(0, req("key", "k", lim, 1)).Remaining, "3 taken, given back, taken again, and 1")

	// Refilled meanwhile: the refund cannot lift the bucket above its burst.
	require.NoError(t, l.Refund(t.Context(), base.Add(time.Hour), []apikey.LimitRequest{key}))
	assert.Equal(t, 9, allow(time.Hour, req("key", "k", lim, 1)).Remaining)

	// A missing bucket is full: left alone, not created.
	gone := apikey.LimitKey{Policy: "key", Subject: "gone"}
	require.NoError(t, l.Refund(t.Context(), base, []apikey.LimitRequest{{Key: gone, Limit: lim, Cost: 1}}))
	n, err := c.Exists(t.Context(), l.Key(gone)).Result()
	require.NoError(t, err)
	assert.Zero(t, n)
}
