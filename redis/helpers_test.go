package redis_test

import (
	"context"
	"crypto/rand"
	"os"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/redis"
)

// redisURL is the Redis the tests run against, from APIKEY_TEST_REDIS.
func redisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("APIKEY_TEST_REDIS")
	if u == "" {
		t.Skip("APIKEY_TEST_REDIS is not set; set it to a URL such as redis://127.0.0.1:6379/0 to test the Redis limiter and invalidator")
	}
	return u
}

// newClient opens a client of its own on the test Redis, as a separate
// instance of a service would, closed when t ends.
func newClient(t testing.TB) *goredis.Client {
	t.Helper()
	opt, err := goredis.ParseURL(redisURL(t))
	require.NoError(t, err)
	c := goredis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

// unique is a name no other test uses, for key prefixes and channels.
func unique(what string) string { return "apikey_test:" + what + ":" + rand.Text() + ":" }

// newLimiter returns a Limiter on c under a prefix of t's own, whose keys
// are deleted when t ends.
func newLimiter(t testing.TB, c *goredis.Client, prefix string, opts ...redis.Option) *redis.Limiter {
	t.Helper()
	l, err := redis.NewLimiter(c, append([]redis.Option{redis.WithNamespace(prefix)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { deletePrefix(t, c, prefix) })
	return l
}

func deletePrefix(t testing.TB, c *goredis.Client, prefix string) {
	ctx := context.Background()
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		c.Del(ctx, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Logf("deleting test keys under %q: %v", prefix, err)
	}
}

// base is the fixed time of the deterministic tests: not a whole second.
var base = time.Date(2026, 5, 1, 12, 0, 0, 123_456_789, time.UTC)

func fixedClock(t time.Time) apikey.Option { return apikey.WithClock(func() time.Time { return t }) }
