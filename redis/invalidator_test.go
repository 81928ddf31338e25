package redis_test

import (
	"database/sql"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/redis"
	"github.com/keyward/apikey/store/sqlstore"
)

func newInvalidator(t testing.TB, c *goredis.Client, channel string) *redis.Invalidator {
	t.Helper()
	inv, err := redis.NewInvalidator(c, redis.WithChannel(channel))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, inv.Close()) })
	return inv
}

// received waits up to a deadline for a key ID on ch.
func received(t *testing.T, ch <-chan string) string {
	t.Helper()
	select {
	case id := <-ch:
		return id
	case <-time.After(2 * time.Second):
		t.Fatal("no eviction received within 2 s")
		return ""
	}
}

func TestNewInvalidatorErrors(t *testing.T) {
	t.Parallel()
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1"})
	defer c.Close()
	_, err := redis.NewInvalidator(nil)
	assert.Error(t, err)
	for name, opt := range map[string]redis.InvalidatorOption{
		"empty channel":        redis.WithChannel(""),
		"nil logger":           redis.WithLogger(nil),
		"zero timeout":         redis.WithSubscribeTimeout(0),
		"zero publish timeout": redis.WithPublishTimeout(0),
	} {
		_, err := redis.NewInvalidator(c, opt)
		assert.Error(t, err, name)
	}
	inv, err := redis.NewInvalidator(c)
	require.NoError(t, err, "NewInvalidator must not need Redis to be up")
	require.NoError(t, inv.Close())
}

// TestInvalidatorAcrossClients: an eviction published by one instance
// reaches the subscribers of another, and of its own, until they
// unsubscribe.
func TestInvalidatorAcrossClients(t *testing.T) {
	t.Parallel()
	channel := unique("channel")
	a := newInvalidator(t, newClient(t), channel)
	b := newInvalidator(t, newClient(t), channel)
	other := newInvalidator(t, newClient(t), unique("channel"))

	atB, atA, atOther := make(chan string, 10), make(chan string, 10), make(chan string, 10)
	unsubB := b.Subscribe(func(id string) { atB <- id })
	b.Subscribe(func(id string) { atB <- "second:" + id })
	a.Subscribe(func(id string) { atA <- id })
	other.Subscribe(func(id string) { atOther <- id })

	require.NoError(t, a.Publish(t.Context(), "k_1"))
	got := []string{received(t, atB), received(t, atB)}
	assert.ElementsMatch(t, []string{"k_1", "second:k_1"}, got)
	assert.Equal(t, "k_1", received(t, atA), "the publisher's own subscribers hear it too")

	unsubB()
	require.NoError(t, a.Publish(t.Context(), "k_2"))
	assert.Equal(t, "k_2", received(t, atA))
	assert.Equal(t, "second:k_2", received(t, atB))
	assert.Empty(t, atOther, "another channel heard it")

	require.NoError(t, b.Close())
	require.NoError(t, b.Close(), "Close twice")
	b.Subscribe(func(string) { t.Error("subscribed after Close") })()
}

// TestInvalidatorRedisDown: Publish fails with an error; Subscribe returns
// after its timeout; Close works.
func TestInvalidatorRedisDown(t *testing.T) {
	t.Parallel()
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer c.Close()
	inv, err := redis.NewInvalidator(c, redis.WithSubscribeTimeout(200*time.Millisecond))
	require.NoError(t, err)
	assert.Error(t, inv.Publish(t.Context(), "k_1"))
	unsubscribe := inv.Subscribe(func(string) {})
	unsubscribe()
	require.NoError(t, inv.Close())
}

// freshPostgres creates a schema of t's own, dropped when t ends, and
// returns a function opening pools whose search_path is it (the approach
// of integration/backends_test.go).
func freshPostgres(t *testing.T) func() *sql.DB {
	t.Helper()
	dsn := os.Getenv("APIKEY_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("APIKEY_TEST_POSTGRES is not set; set it to a DSN such as postgres://postgres@127.0.0.1:5432/test?sslmode=disable to test the invalidator with two Managers on PostgreSQL")
	}
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	admin := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { admin.Close() })
	schema := strings.ToLower(strings.TrimSuffix(strings.ReplaceAll(unique("redis"), ":", "_"), "_"))
	_, err = admin.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err, "creating schema %s", schema)
	t.Cleanup(func() {
		_, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		require.NoError(t, err, "dropping schema %s", schema)
	})
	cfg.RuntimeParams["search_path"] = schema
	return func() *sql.DB {
		db := stdlib.OpenDB(*cfg.Copy())
		t.Cleanup(func() { db.Close() })
		return db
	}
}

// instance is one process of a service: its own pool, store, Redis client,
// Invalidator and Manager with a one-hour cache.
func instance(t *testing.T, open func() *sql.DB, channel string, migrate bool) *apikey.Manager {
	t.Helper()
	s, err := sqlstore.New(open(), sqlstore.Postgres)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	if migrate {
		require.NoError(t, s.Migrate(t.Context()))
	}
	opts := []apikey.Option{apikey.WithCache(time.Hour), apikey.WithoutUsageTracking()}
	if channel != "" {
		opts = append(opts, apikey.WithInvalidator(newInvalidator(t, newClient(t), channel)))
	}
	return newManager(t, s, opts...)
}

// TestInvalidatorTwoManagersOnPostgres: a revoke, a rotate and a disable
// on instance A are refused by instance B within 1 s, although B caches
// keys for an hour; instance C, without the invalidator, still accepts
// them from its cache.
func TestInvalidatorTwoManagersOnPostgres(t *testing.T) {
	t.Parallel()
	open := freshPostgres(t)
	redisURL(t)
	channel := unique("invalidate")
	a := instance(t, open, channel, true)
	b := instance(t, open, channel, false)
	c := instance(t, open, "", false)

	for _, tc := range []struct {
		name   string
		change func(t *testing.T, id string)
		want   error
	}{
		{"revoke", func(t *testing.T, id string) { require.NoError(t, a.Revoke(t.Context(), id)) }, apikey.ErrRevoked},
		{"rotate", func(t *testing.T, id string) {
			_, _, err := a.Rotate(t.Context(), id, 0)
			require.NoError(t, err)
		}, apikey.ErrExpired},
		{"disable", func(t *testing.T, id string) {
			_, err := a.Disable(t.Context(), id)
			require.NoError(t, err)
		}, apikey.ErrDisabled},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, secret, err := a.Create(t.Context(), apikey.CreateParams{Name: tc.name})
			require.NoError(t, err)
			for _, m := range []*apikey.Manager{b, c} { // now cached for an hour
				_, err := m.Verify(t.Context(), secret)
				require.NoError(t, err)
			}
			tc.change(t, key.ID)
			start := time.Now()
			deadline := start.Add(time.Second)
			for {
				_, err = b.Verify(t.Context(), secret)
				if err != nil || time.Now().After(deadline) {
					break
				}
				time.Sleep(5 * time.Millisecond) // polling another process, with a deadline
			}
			require.ErrorIs(t, err, tc.want, "instance B still accepts the key after %s", time.Since(start))
			t.Logf("refused by B after %s", time.Since(start))
			_, err = c.Verify(t.Context(), secret)
			assert.NoError(t, err, "without the invalidator the cache keeps the key: the test proves nothing")
		})
	}
}

// TestInvalidatorReconnects: when the subscription's connection is killed,
// go-redis reconnects and resubscribes, and evictions flow again.
func TestInvalidatorReconnects(t *testing.T) {
	t.Parallel()
	opt, err := goredis.ParseURL(redisURL(t))
	require.NoError(t, err)
	name := strings.ReplaceAll(strings.TrimSuffix(unique("sub"), ":"), ":", "-")
	opt.ClientName = name
	sub := goredis.NewClient(opt)
	t.Cleanup(func() { sub.Close() })
	admin := newClient(t)
	channel := unique("reconnect")
	inv := newInvalidator(t, sub, channel)
	pub := newInvalidator(t, admin, channel)
	got := make(chan string, 100)
	inv.Subscribe(func(id string) { got <- id })

	// Kill every connection of the subscriber's client.
	clients, err := admin.ClientList(t.Context()).Result()
	require.NoError(t, err)
	killed := 0
	for _, line := range strings.Split(clients, "\n") {
		if !strings.Contains(line, " name="+name+" ") {
			continue
		}
		for _, f := range strings.Fields(line) {
			if id, ok := strings.CutPrefix(f, "id="); ok {
				require.NoError(t, admin.ClientKillByFilter(t.Context(), "ID", id).Err())
				killed++
			}
		}
	}
	require.Positive(t, killed, "the subscriber's connection was not found")

	// Publish until the resubscribed instance hears it (pub/sub does not
	// keep messages sent while it was away).
	deadline := time.Now().Add(5 * time.Second)
	for {
		require.NoError(t, pub.Publish(t.Context(), "k_after"))
		select {
		case id := <-got:
			require.Equal(t, "k_after", id)
			return
		case <-time.After(50 * time.Millisecond):
		}
		require.True(t, time.Now().Before(deadline), "no eviction received within 5 s of the connection loss")
	}
}
