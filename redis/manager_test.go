package redis_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/redis"
	"github.com/keyward/apikey/store/memstore"
)

func newManager(t testing.TB, store apikey.Store, opts ...apikey.Option) *apikey.Manager {
	t.Helper()
	m, err := apikey.New(store, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

// TestTwoManagersShareTheLimit: two instances, each with its own Redis
// client, fire at one key from many goroutines within one window (a fixed
// clock): together they let through the limit, not twice it.
func TestTwoManagersShareTheLimit(t *testing.T) {
	t.Parallel()
	const limit, workers, each = 500, 40, 30 // 1200 attempts
	prefix := unique("shared")
	store := memstore.New()
	var managers [2]*apikey.Manager
	for i := range managers {
		lim := newLimiter(t, newClient(t), prefix, redis.WithTTLMargin(time.Hour))
		managers[i] = newManager(t, store, apikey.WithLimiter(lim), apikey.WithKeyLimit(apikey.PerSecond(limit)),
			fixedClock(base), apikey.WithoutUsageTracking())
	}
	_, secret, err := managers[0].Create(t.Context(), apikey.CreateParams{Name: "shared"})
	require.NoError(t, err)

	var allowed, limited [2]atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			m := managers[w%2]
			for range each {
				_, err := m.Verify(context.Background(), secret)
				switch {
				case err == nil:
					allowed[w%2].Add(1)
				case errors.Is(err, apikey.ErrRateLimited):
					limited[w%2].Add(1)
				default:
					assert.NoError(t, err)
					return
				}
			}
		})
	}
	wg.Wait()
	total := allowed[0].Load() + allowed[1].Load()
	t.Logf("allowed %d + %d = %d of %d (limit %d)", allowed[0].Load(), allowed[1].Load(), total, workers*each, limit)
	assert.InDelta(t, limit, total, limit/100, "the instances did not share one budget")
	assert.EqualValues(t, limit, total, "with a fixed clock the count is exact")
	assert.Positive(t, allowed[0].Load())
	assert.Positive(t, allowed[1].Load())
	assert.EqualValues(t, workers*each-limit, limited[0].Load()+limited[1].Load())
}

// TestManagerHeadersLikeLocal: Check returns the same Decisions through a
// Manager on the Redis limiter as through one on the local limiter.
func TestManagerHeadersLikeLocal(t *testing.T) {
	t.Parallel()
	now := base
	clock := apikey.WithClock(func() time.Time { return now })
	plans := apikey.WithPlans(map[string]apikey.Limit{"team": apikey.PerMinute(5)})
	ownerPlan := apikey.WithOwnerPlan(func(string) string { return "team" })
	store := memstore.New()
	local := newManager(t, store, clock, plans, ownerPlan, apikey.WithKeyLimit(apikey.PerSecond(3)), apikey.WithoutUsageTracking())
	remote := newManager(t, store, clock, plans, ownerPlan, apikey.WithKeyLimit(apikey.PerSecond(3)), apikey.WithoutUsageTracking(),
		apikey.WithLimiter(newLimiter(t, newClient(t), unique("headers"))))
	_, secret, err := local.Create(t.Context(), apikey.CreateParams{Name: "k", OwnerID: "org_1"})
	require.NoError(t, err)
	for i, at := range []time.Duration{0, 0, 0, 0, 100 * time.Millisecond, 400 * time.Millisecond, 2 * time.Second, 2 * time.Second, 13 * time.Second, 13 * time.Second} {
		now = base.Add(at)
		_, want, wantErr := local.Check(t.Context(), secret, apikey.CheckOptions{})
		_, got, gotErr := remote.Check(t.Context(), secret, apikey.CheckOptions{})
		require.Equal(t, want, got, "check %d at +%s", i, at)
		require.Equal(t, wantErr == nil, gotErr == nil, "check %d: %v vs %v", i, wantErr, gotErr)
		if wantErr != nil {
			require.ErrorIs(t, gotErr, apikey.ErrRateLimited)
		}
	}
}

// downLimiter is a Limiter whose Redis cannot be reached.
func downLimiter(t *testing.T) *redis.Limiter {
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { c.Close() })
	l, err := redis.NewLimiter(c)
	require.NoError(t, err)
	return l
}

// TestRedisDown: with Redis unreachable a limited key is refused with
// ErrStoreUnavailable (fail closed), unless WithLimiterFailOpen.
func TestRedisDown(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	closed := newManager(t, store, apikey.WithLimiter(downLimiter(t)), apikey.WithKeyLimit(apikey.PerSecond(10)))
	open := newManager(t, store, apikey.WithLimiter(downLimiter(t)), apikey.WithKeyLimit(apikey.PerSecond(10)), apikey.WithLimiterFailOpen())
	_, secret, err := closed.Create(t.Context(), apikey.CreateParams{Name: "k"})
	require.NoError(t, err)

	_, err = closed.Verify(t.Context(), secret)
	require.ErrorIs(t, err, apikey.ErrStoreUnavailable)
	assert.NotErrorIs(t, err, apikey.ErrRateLimited)

	k, err := open.Verify(t.Context(), secret)
	require.NoError(t, err)
	assert.Equal(t, "k", k.Name)
}
