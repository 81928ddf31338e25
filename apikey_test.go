package apikey_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"strings"
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

func newManager(t testing.TB, store apikey.Store, opts ...apikey.Option) *apikey.Manager {
	t.Helper()
	m, err := apikey.New(store, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func create(t testing.TB, m *apikey.Manager, p apikey.CreateParams) (*apikey.Key, string) {
	t.Helper()
	if p.Name == "" {
		p.Name = "test key"
	}
	k, secret, err := m.Create(context.Background(), p)
	require.NoError(t, err)
	return k, secret
}

func TestCreateAndVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	m := newManager(t, store)
	k, secret := create(t, m, apikey.CreateParams{
		Name: "CI pipeline", OwnerID: "org_1", Scopes: []string{"webhooks:write", "read"},
		Metadata: map[string]string{"team": "platform"},
	})
	assert.Equal(t, secret[:12], k.Prefix)
	assert.Equal(t, apikey.EnvLive, k.Environment)
	assert.Equal(t, []string{"read", "webhooks:write"}, k.Scopes)
	pattern, err := apikey.Pattern(apikey.DefaultPrefix)
	require.NoError(t, err)
	assert.Regexp(t, pattern, secret)

	got, err := m.Verify(ctx, secret, "webhooks:write", "read")
	require.NoError(t, err)
	assert.Equal(t, k.ID, got.ID)

	_, err = m.Verify(ctx, secret, "webhooks:delete")
	assert.ErrorIs(t, err, apikey.ErrInsufficientScope)
	assert.NotErrorIs(t, err, apikey.ErrInvalidKey, "a missing scope is 403, not 401")
	var se *apikey.ScopeError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, []string{"webhooks:delete"}, se.Required)

	// The store holds the digest, not the key.
	rec, err := store.ByID(ctx, k.ID)
	require.NoError(t, err)
	// SHA-256 of the key without its checksum (scheme "sha256/v2").
	assert.Equal(t, apikey.Digest(sha256.Sum256([]byte(secret[:len(secret)-6]))), rec.Digest)
	assert.Equal(t, "sha256/v2", rec.DigestScheme)
}

func TestCreateRejectsBadParams(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	store := newCountingStore()
	m := newManager(t, store, apikey.WithClock(func() time.Time { return now }),
		apikey.WithEnvironments(apikey.EnvLive), apikey.WithMaxLifetime(365*24*time.Hour))
	many := make([]string, 101)
	for i := range many {
		many[i] = "scope" + strings.Repeat("x", i)
	}
	tests := []struct {
		name  string
		p     apikey.CreateParams
		field string
	}{
		{"empty name", apikey.CreateParams{}, "name"},
		{"long name", apikey.CreateParams{Name: strings.Repeat("n", 201)}, "name"},
		{"non-UTF-8 name", apikey.CreateParams{Name: "\xff"}, "name"},
		{"long owner", apikey.CreateParams{Name: "k", OwnerID: strings.Repeat("o", 201)}, "owner_id"},
		{"empty scope", apikey.CreateParams{Name: "k", Scopes: []string{""}}, "scopes"},
		{"spaced scope", apikey.CreateParams{Name: "k", Scopes: []string{"webhooks read"}}, "scopes"},
		{"quoted scope", apikey.CreateParams{Name: "k", Scopes: []string{`"read"`}}, "scopes"},
		{"non-ASCII scope", apikey.CreateParams{Name: "k", Scopes: []string{"lire:é"}}, "scopes"},
		{"101 scopes", apikey.CreateParams{Name: "k", Scopes: many}, "scopes"},
		{"metadata over 16 KiB", apikey.CreateParams{Name: "k", Metadata: map[string]string{"k": strings.Repeat("v", 16<<10)}}, "metadata"},
		{"empty metadata key", apikey.CreateParams{Name: "k", Metadata: map[string]string{"": "v"}}, "metadata"},
		{"unknown environment", apikey.CreateParams{Name: "k", Environment: "prod"}, "environment"},
		{"refused environment", apikey.CreateParams{Name: "k", Environment: apikey.EnvTest}, "environment"},
		{"past expiry", apikey.CreateParams{Name: "k", ExpiresAt: now.Add(-time.Second)}, "expires_at"},
		{"expiry now", apikey.CreateParams{Name: "k", ExpiresAt: now}, "expires_at"},
		{"beyond max lifetime", apikey.CreateParams{Name: "k", ExpiresAt: now.Add(366 * 24 * time.Hour)}, "expires_at"},
	}
	for _, tc := range tests {
		_, secret, err := m.Create(ctx, tc.p)
		assert.Empty(t, secret, tc.name)
		var pe *apikey.ParamError
		if assert.ErrorAs(t, err, &pe, tc.name) {
			assert.Equal(t, tc.field, pe.Field, tc.name)
			assert.ErrorIs(t, err, apikey.ErrInvalidParams, tc.name)
		}
	}
	assert.Zero(t, store.writes.Load(), "a rejected Create stores nothing")

	k, _ := create(t, m, apikey.CreateParams{Name: strings.Repeat("é", 200)})
	assert.Equal(t, now.Add(365*24*time.Hour), k.ExpiresAt, "max lifetime applies to keys without expiry")
}

func TestScopeVocabularyRejectsTypos(t *testing.T) {
	t.Parallel()
	m := newManager(t, memstore.New(), apikey.WithScopeVocabulary("webhooks:read", "webhooks:write"))
	_, _, err := m.Create(context.Background(), apikey.CreateParams{Name: "k", Scopes: []string{"webhook:read"}})
	assert.ErrorIs(t, err, apikey.ErrInvalidParams)
	create(t, m, apikey.CreateParams{Scopes: []string{"webhooks:*"}})
	assert.Equal(t, []string{"webhooks:read", "webhooks:write"}, m.ScopeVocabulary())
}

func TestVerifyRejectsAnyStringWithoutAStoreCall(t *testing.T) {
	t.Parallel()
	store := newCountingStore()
	m := newManager(t, store, apikey.WithEnvironments(apikey.EnvLive))
	_, secret := create(t, m, apikey.CreateParams{})
	testKey := "sk_test_" + secret[8:]
	other, err := apikey.New(memstore.New(), apikey.WithPrefix("hd"))
	require.NoError(t, err)
	_, otherSecret, err := other.Create(context.Background(), apikey.CreateParams{Name: "k"})
	require.NoError(t, err)

	inputs := map[string]string{
		"empty":           "",
		"1 MB":            strings.Repeat("x", 1<<20),
		"NUL bytes":       strings.Repeat("\x00", 57),
		"non-UTF-8":       "sk_live_\xff\xfe" + secret[10:],
		"JWT":             "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0In0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
		"another vendor":  "ghp_16C7e42F292c6912E7710c838347Ae178B4a",
		"other prefix":    otherSecret,
		"bad checksum":    secret[:len(secret)-1] + map[bool]string{true: "0", false: "1"}[secret[len(secret)-1] != '0'],
		"test key":        testKey, // refused environment (its checksum is wrong too)
		"Bearer included": "Bearer " + secret,
		"trailing space":  secret + " ",
	}
	for name, in := range inputs {
		k, err := m.Verify(context.Background(), in)
		assert.Nil(t, k, name)
		assert.ErrorIs(t, err, apikey.ErrInvalidKey, name)
	}
	assert.Zero(t, store.reads.Load(), "malformed keys must not reach the store")
}

func TestEnvironments(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newCountingStore()
	both := newManager(t, store)
	_, testSecret := create(t, both, apikey.CreateParams{Environment: apikey.EnvTest})
	assert.True(t, strings.HasPrefix(testSecret, "sk_test_"))
	k, err := both.Verify(ctx, testSecret)
	require.NoError(t, err)
	assert.Equal(t, apikey.EnvTest, k.Environment)

	liveOnly := newManager(t, store, apikey.WithEnvironments(apikey.EnvLive))
	reads := store.reads.Load()
	_, err = liveOnly.Verify(ctx, testSecret)
	assert.ErrorIs(t, err, apikey.ErrWrongEnvironment)
	assert.ErrorIs(t, err, apikey.ErrInvalidKey)
	assert.Equal(t, reads, store.reads.Load(), "a refused environment is decided without the store")

	_, err = apikey.New(store, apikey.WithEnvironments("staging"))
	assert.ErrorIs(t, err, apikey.ErrInvalidParams)
}

func TestUnknownKey(t *testing.T) {
	t.Parallel()
	a := newManager(t, memstore.New())
	b := newManager(t, memstore.New())
	_, secret := create(t, a, apikey.CreateParams{})
	_, err := b.Verify(context.Background(), secret)
	assert.ErrorIs(t, err, apikey.ErrUnknownKey)
	assert.ErrorIs(t, err, apikey.ErrInvalidKey)
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t, memstore.New())
	k, secret := create(t, m, apikey.CreateParams{OwnerID: "org"})
	require.NoError(t, m.Revoke(ctx, k.ID))

	_, err := m.Verify(ctx, secret)
	assert.ErrorIs(t, err, apikey.ErrRevoked)
	assert.ErrorIs(t, err, apikey.ErrInvalidKey)
	var ke *apikey.KeyError
	require.ErrorAs(t, err, &ke)
	assert.Equal(t, k.ID, ke.KeyID)

	assert.ErrorIs(t, m.Revoke(ctx, k.ID), apikey.ErrNotFound, "revoking twice")
	assert.ErrorIs(t, m.Revoke(ctx, "no-such-id"), apikey.ErrNotFound)
	_, err = m.Update(ctx, k.ID, apikey.UpdateParams{Name: ptr("x")})
	assert.ErrorIs(t, err, apikey.ErrNotFound, "a revoked key cannot be updated")
	_, err = m.Enable(ctx, k.ID)
	assert.ErrorIs(t, err, apikey.ErrNotFound, "revocation cannot be undone")

	got, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.False(t, got.RevokedAt.IsZero(), "revoked keys stay readable with RevokedAt")
	assert.Equal(t, apikey.StatusRevoked, got.Status(time.Now()))

	listed, err := m.List(ctx, apikey.ListOptions{OwnerID: "org"})
	require.NoError(t, err)
	assert.Empty(t, listed)
	listed, err = m.List(ctx, apikey.ListOptions{OwnerID: "org", IncludeRevoked: true})
	require.NoError(t, err)
	require.Len(t, listed, 1)
	assert.False(t, listed[0].RevokedAt.IsZero())
}

func TestDisableEnable(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t, memstore.New())
	k, secret := create(t, m, apikey.CreateParams{})
	_, err := m.Disable(ctx, k.ID)
	require.NoError(t, err)
	_, err = m.Verify(ctx, secret)
	assert.ErrorIs(t, err, apikey.ErrDisabled)
	assert.ErrorIs(t, err, apikey.ErrInvalidKey)
	_, err = m.Enable(ctx, k.ID)
	require.NoError(t, err)
	_, err = m.Verify(ctx, secret)
	assert.NoError(t, err)
}

func TestUpdate(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t, memstore.New())
	k, _ := create(t, m, apikey.CreateParams{Metadata: map[string]string{"a": "1"}})
	got, err := m.Update(ctx, k.ID, apikey.UpdateParams{Name: ptr("renamed"), Metadata: map[string]string{"b": "2"}})
	require.NoError(t, err)
	assert.Equal(t, "renamed", got.Name)
	assert.Equal(t, map[string]string{"b": "2"}, got.Metadata)
	_, err = m.Update(ctx, k.ID, apikey.UpdateParams{Name: ptr("")})
	assert.ErrorIs(t, err, apikey.ErrInvalidParams)
	_, err = m.Update(ctx, "missing", apikey.UpdateParams{Name: ptr("x")})
	assert.ErrorIs(t, err, apikey.ErrNotFound)
}

func TestExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newManager(t, memstore.New())
		_, secret := create(t, m, apikey.CreateParams{ExpiresAt: time.Now().Add(time.Hour)})

		time.Sleep(time.Hour - time.Nanosecond) // fake time: the bubble's clock
		_, err := m.Verify(ctx, secret)
		require.NoError(t, err, "valid until ExpiresAt")

		time.Sleep(time.Nanosecond) // now == ExpiresAt
		_, err = m.Verify(ctx, secret)
		assert.ErrorIs(t, err, apikey.ErrExpired)
		assert.ErrorIs(t, err, apikey.ErrInvalidKey)
	})
}

func TestRotate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newManager(t, memstore.New())
		old, oldSecret := create(t, m, apikey.CreateParams{
			Name: "deploy", OwnerID: "org", Environment: apikey.EnvTest, Scopes: []string{"read"},
			Metadata: map[string]string{"team": "ops"}, ExpiresAt: time.Now().Add(90 * 24 * time.Hour),
		})
		time.Sleep(24 * time.Hour)

		next, nextSecret, err := m.Rotate(ctx, old.ID, time.Hour)
		require.NoError(t, err)
		assert.NotEqual(t, oldSecret, nextSecret)
		assert.Equal(t, old.ID, next.RotatedFromID)
		assert.Equal(t, []any{old.Name, old.OwnerID, old.Environment, old.Scopes, old.Metadata},
			[]any{next.Name, next.OwnerID, next.Environment, next.Scopes, next.Metadata})
		assert.Equal(t, time.Now().Add(90*24*time.Hour).UTC(), next.ExpiresAt, "the successor gets the same lifetime")
		gotOld, err := m.Get(ctx, old.ID)
		require.NoError(t, err)
		assert.Equal(t, next.ID, gotOld.RotatedToID)

		// Both work during the grace period; the old one stops at its end.
		_, err = m.Verify(ctx, oldSecret)
		require.NoError(t, err)
		_, err = m.Verify(ctx, nextSecret)
		require.NoError(t, err)
		time.Sleep(time.Hour)
		_, err = m.Verify(ctx, oldSecret)
		assert.ErrorIs(t, err, apikey.ErrExpired)
		_, err = m.Verify(ctx, nextSecret)
		assert.NoError(t, err)

		_, _, err = m.Rotate(ctx, old.ID, 0)
		assert.ErrorIs(t, err, apikey.ErrConflict, "a key is rotated once")
		_, _, err = m.Rotate(ctx, next.ID, -time.Second)
		assert.ErrorIs(t, err, apikey.ErrInvalidParams)
		_, _, err = m.Rotate(ctx, "missing", 0)
		assert.ErrorIs(t, err, apikey.ErrNotFound)

		// Grace 0: the old key stops at once.
		_, newest, err := m.Rotate(ctx, next.ID, 0)
		require.NoError(t, err)
		_, err = m.Verify(ctx, nextSecret)
		assert.ErrorIs(t, err, apikey.ErrExpired)
		_, err = m.Verify(ctx, newest)
		assert.NoError(t, err)

		revoked, _ := create(t, m, apikey.CreateParams{})
		require.NoError(t, m.Revoke(ctx, revoked.ID))
		_, _, err = m.Rotate(ctx, revoked.ID, 0)
		assert.ErrorIs(t, err, apikey.ErrNotFound)

		// An expired key is not renewed by rotating it.
		expiring, _ := create(t, m, apikey.CreateParams{ExpiresAt: time.Now().Add(time.Minute)})
		time.Sleep(time.Minute)
		_, _, err = m.Rotate(ctx, expiring.ID, 0)
		assert.ErrorIs(t, err, apikey.ErrConflict)
	})
}

func TestPepper(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	pepperA := []byte("pepper A: 32 random bytes, really")
	pepperB := []byte("pepper B: 32 random bytes, truly!")

	plain := newManager(t, store)
	plainKey, plainSecret := create(t, plain, apikey.CreateParams{})
	a := newManager(t, store, apikey.WithPepper(pepperA))
	aKey, aSecret := create(t, a, apikey.CreateParams{})
	rec, err := store.ByID(ctx, aKey.ID)
	require.NoError(t, err)
	assert.NotEqual(t, apikey.Digest(sha256.Sum256([]byte(aSecret))), rec.Digest, "a peppered digest is not plain SHA-256")
	assert.True(t, strings.HasPrefix(rec.DigestScheme, "hmac-sha256/v2:"))

	_, err = plain.Verify(ctx, aSecret)
	assert.ErrorIs(t, err, apikey.ErrUnknownKey, "without the pepper a peppered key is unknown")

	// Plain SHA-256 keys are not accepted under a pepper unless asked for:
	// otherwise anyone who can write to the database could add a key.
	_, err = a.Verify(ctx, plainSecret)
	assert.ErrorIs(t, err, apikey.ErrUnknownKey)

	// Rotating the pepper: B first, A still accepted, and plain SHA-256
	// during a migration.
	b := newManager(t, store, apikey.WithPepper(pepperB, pepperA), apikey.WithUnpepperedFallback())
	for _, secret := range []string{aSecret, plainSecret} {
		_, err := b.Verify(ctx, secret)
		require.NoError(t, err)
	}
	for _, id := range []string{aKey.ID, plainKey.ID} {
		rec, err := store.ByID(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, b.DigestScheme(), rec.DigestScheme, "re-hashed to the first pepper on use")
	}
	onlyB := newManager(t, store, apikey.WithPepper(pepperB))
	for _, secret := range []string{aSecret, plainSecret} {
		_, err := onlyB.Verify(ctx, secret)
		assert.NoError(t, err, "after re-hashing, the old pepper is no longer needed")
	}

	for _, bad := range [][][]byte{{[]byte("short")}, {pepperA, pepperA}} {
		_, err := apikey.New(store, apikey.WithPepper(bad...))
		assert.ErrorIs(t, err, apikey.ErrInvalidParams)
	}
	_, err = apikey.New(store, apikey.WithUnpepperedFallback())
	assert.ErrorIs(t, err, apikey.ErrInvalidParams, "a fallback without a pepper is a mistake")
}

func TestStoreFailureFailsClosed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newCountingStore()
	m := newManager(t, store)
	_, secret := create(t, m, apikey.CreateParams{})
	store.fail.Store(true)
	k, err := m.Verify(ctx, secret)
	assert.Nil(t, k)
	assert.ErrorIs(t, err, apikey.ErrStoreUnavailable)
	assert.NotErrorIs(t, err, apikey.ErrInvalidKey, "a store failure is never a bad key")
	_, _, err = m.Create(ctx, apikey.CreateParams{Name: "k"})
	assert.ErrorIs(t, err, apikey.ErrStoreUnavailable)
	store.fail.Store(false)
	_, err = m.Verify(ctx, secret)
	assert.NoError(t, err, "nothing was remembered as invalid")
}

func TestListPagesAndOwners(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t, memstore.New())
	var want []string
	for range 7 {
		k, _ := create(t, m, apikey.CreateParams{OwnerID: "a"})
		want = append(want, k.ID)
	}
	create(t, m, apikey.CreateParams{OwnerID: "b"})
	var got []string
	opts := apikey.ListOptions{OwnerID: "a", Limit: 3}
	for {
		page, err := m.List(ctx, opts)
		require.NoError(t, err)
		for _, k := range page {
			got = append(got, k.ID)
		}
		if len(page) < opts.Limit {
			break
		}
		opts.After = page[len(page)-1].ID
	}
	assert.Equal(t, want, got, "creation order, every key once")
	_, err := m.List(ctx, apikey.ListOptions{Limit: -1})
	assert.ErrorIs(t, err, apikey.ErrInvalidParams)
}

func TestReturnedKeysAreCopies(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t, memstore.New())
	meta := map[string]string{"a": "1"}
	k, _ := create(t, m, apikey.CreateParams{Scopes: []string{"read"}, Metadata: meta})
	meta["a"] = "changed"
	k.Scopes[0] = "changed"
	got, err := m.Get(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, []string{"read"}, got.Scopes)
	assert.Equal(t, "1", got.Metadata["a"])
}

// After Revoke returns, no Verify that starts afterwards succeeds. Run it
// with -race.
func TestRevokeDuringVerify(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t, memstore.New())
	k, secret := create(t, m, apikey.CreateParams{})
	var revoked atomic.Bool
	var wg sync.WaitGroup
	var okBefore, okAfter atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 2000 {
				startedAfterRevoke := revoked.Load()
				_, err := m.Verify(ctx, secret)
				switch {
				case err == nil && startedAfterRevoke:
					okAfter.Add(1)
				case err == nil:
					okBefore.Add(1)
				case !errors.Is(err, apikey.ErrRevoked):
					t.Errorf("Verify: %v", err)
					return
				}
			}
		}()
	}
	for okBefore.Load() < 100 {
		time.Sleep(time.Microsecond) // real goroutines: let them get going
	}
	require.NoError(t, m.Revoke(ctx, k.ID))
	revoked.Store(true)
	wg.Wait()
	assert.Zero(t, okAfter.Load(), "a Verify that started after Revoke returned succeeded")
}

func TestUsageIsWrittenBehind(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store := newCountingStore()
		m, err := apikey.New(store, apikey.WithUsageFlushInterval(10*time.Second))
		require.NoError(t, err)
		defer m.Close()
		k, secret := create(t, m, apikey.CreateParams{})
		created := time.Now().UTC()
		writes := store.writes.Load()
		for range 5 {
			_, err := m.Verify(ctx, secret)
			require.NoError(t, err)
		}
		assert.Equal(t, writes, store.writes.Load(), "Verify never writes to the store")

		got, err := m.Get(ctx, k.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(5), got.RequestCount, "Get includes counts not yet written")
		assert.Equal(t, created, got.LastUsedAt)
		rec, err := store.Store.ByID(ctx, k.ID)
		require.NoError(t, err)
		assert.Zero(t, rec.RequestCount, "nothing written before the flush")

		time.Sleep(10 * time.Second)
		synctest.Wait()
		assert.Equal(t, writes+1, store.writes.Load(), "one batch per flush")
		rec, err = store.Store.ByID(ctx, k.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(5), rec.RequestCount)
		assert.Equal(t, created, rec.LastUsedAt)

		// A failed flush keeps the counts for the next one.
		_, err = m.Verify(ctx, secret)
		require.NoError(t, err)
		store.fail.Store(true)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		store.fail.Store(false)
		_, err = m.Verify(ctx, secret)
		require.NoError(t, err)
		require.NoError(t, m.Close(), "Close flushes")
		rec, err = store.Store.ByID(ctx, k.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(7), rec.RequestCount)

		_, err = m.Verify(ctx, secret)
		assert.ErrorIs(t, err, apikey.ErrClosed)
		assert.ErrorIs(t, err, apikey.ErrStoreUnavailable)
	})
}

func TestWithoutUsageTracking(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newCountingStore()
	m := newManager(t, store, apikey.WithoutUsageTracking())
	k, secret := create(t, m, apikey.CreateParams{})
	_, err := m.Verify(ctx, secret)
	require.NoError(t, err)
	require.NoError(t, m.Close())
	got, err := store.ByID(ctx, k.ID)
	require.NoError(t, err)
	assert.Zero(t, got.RequestCount)
}

func TestNewRejectsBadOptions(t *testing.T) {
	t.Parallel()
	store := memstore.New()
	for name, opt := range map[string]apikey.Option{
		"prefix with upper case":   apikey.WithPrefix("SK"),
		"prefix too long":          apikey.WithPrefix("abcdefghijklmnopq"),
		"empty prefix":             apikey.WithPrefix(""),
		"nil clock":                apikey.WithClock(nil),
		"negative lifetime":        apikey.WithMaxLifetime(-time.Hour),
		"no environment":           apikey.WithEnvironments(),
		"zero flush interval":      apikey.WithUsageFlushInterval(0),
		"bad vocabulary":           apikey.WithScopeVocabulary("has space"),
		"bad implication":          apikey.WithScopeImplications(map[string][]string{"a": {""}}),
		"nil logger":               apikey.WithLogger(nil),
		"negative flush interval":  apikey.WithUsageFlushInterval(-time.Second),
		"cache bound below a tick": apikey.WithCache(time.Millisecond),
		"zero store timeout":       apikey.WithStoreTimeout(0),
	} {
		_, err := apikey.New(store, opt)
		assert.ErrorIs(t, err, apikey.ErrInvalidParams, name)
	}
	_, err := apikey.New(nil)
	assert.ErrorIs(t, err, apikey.ErrInvalidParams)
}

func ptr[T any](v T) *T { return &v }

// A New that fails starts nothing: synctest fails the test if a goroutine
// started in the bubble is left behind.
func TestFailedNewLeaksNoGoroutine(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		for _, opt := range []apikey.Option{
			apikey.WithKeyLimit(apikey.Limit{Requests: -1, Period: time.Second}),
			apikey.WithPlans(map[string]apikey.Limit{"": apikey.PerMinute(1)}),
			apikey.WithStoreTimeout(0),
			apikey.WithCache(time.Millisecond),
		} {
			_, err := apikey.New(memstore.New(), opt)
			require.ErrorIs(t, err, apikey.ErrInvalidParams)
		}
	})
}
