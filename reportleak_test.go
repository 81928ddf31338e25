package apikey_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
	"github.com/keyward/apikey/store/memstore"
	"github.com/keyward/apikey/store/sqlitestore"
)

// leakStores are the stores ReportLeak is tested on.
func leakStores(t *testing.T) map[string]func(t *testing.T) apikey.Store {
	return map[string]func(t *testing.T) apikey.Store{
		"memstore": func(t *testing.T) apikey.Store { return memstore.New() },
		"sqlite": func(t *testing.T) apikey.Store {
			s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "keys.db"))
			require.NoError(t, err)
			t.Cleanup(func() { _ = s.Close() })
			return s
		},
	}
}

func leakEvents(t *testing.T, m *apikey.Manager) []*audit.Event {
	t.Helper()
	evs, err := m.ListAudit(context.Background(), audit.Query{Action: audit.KeyLeaked})
	require.NoError(t, err)
	return evs
}

func TestReportLeakPolicies(t *testing.T) {
	t.Parallel()
	for name, newStore := range leakStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			for _, tc := range []struct {
				policy  apikey.LeakPolicy
				want    apikey.Status
				result  string
				verdict error
			}{
				{"", apikey.StatusRevoked, "revoked", apikey.ErrRevoked},
				{apikey.LeakRevoke, apikey.StatusRevoked, "revoked", apikey.ErrRevoked},
				{apikey.LeakDisable, apikey.StatusDisabled, "disabled", apikey.ErrDisabled},
				{apikey.LeakNotify, apikey.StatusActive, "unchanged", nil},
			} {
				t.Run(string(tc.policy), func(t *testing.T) {
					// The default cache: the key is cached before the report,
					// and must still be refused at once after it.
					m := newManager(t, newStore(t), apikey.WithCache(time.Minute))
					k, secret := create(t, m, apikey.CreateParams{OwnerID: "org"})
					_, err := m.Verify(ctx, secret)
					require.NoError(t, err)

					res, err := m.ReportLeak(ctx, apikey.LeakReport{Key: secret, Source: "github:commit",
						URL: "https://github.com/o/r/blob/abc/config.env", Policy: tc.policy})
					require.NoError(t, err)
					assert.True(t, res.Found)

					_, err = m.Verify(ctx, secret)
					if tc.verdict == nil {
						assert.NoError(t, err)
					} else {
						assert.ErrorIs(t, err, tc.verdict, "refused at once, cache or not")
					}
					got, err := m.Get(ctx, k.ID)
					require.NoError(t, err)
					assert.Equal(t, tc.want, got.Status(time.Now()))

					evs := leakEvents(t, m)
					require.Len(t, evs, 1)
					ev := evs[0]
					assert.Equal(t, k.ID, ev.KeyID)
					assert.Equal(t, "org", ev.OwnerID)
					assert.Equal(t, "github:commit", ev.Details["source"])
					assert.Equal(t, "https://github.com/o/r/blob/abc/config.env", ev.Details["url"])
					assert.Equal(t, tc.result, ev.Details["result"])
				})
			}
		})
	}
}

// Unknown, malformed and already revoked keys: the first two are not
// found; a revoked key is found (a true positive) but nothing changes, and
// replays are audited once a minute.
func TestReportLeakUnknownAndReplayed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newCountingStore()
	auditLog := memstore.New()
	var now atomic.Int64
	now.Store(time.Now().UnixNano())
	m := newManager(t, store, apikey.WithAuditStore(auditLog), apikey.WithClock(func() time.Time { return time.Unix(0, now.Load()) }))
	other := newManager(t, memstore.New())
	_, unknown := create(t, other, apikey.CreateParams{}) // well formed, not in store

	reads := store.reads.Load()
	for _, garbage := range []string{"", "sk_live_short", wrongChecksum(unknown), strings.Repeat("A", 1<<20)} {
		res, err := m.ReportLeak(ctx, apikey.LeakReport{Key: garbage})
		require.NoError(t, err)
		assert.False(t, res.Found)
	}
	assert.Equal(t, reads, store.reads.Load(), "garbage is dropped without a store call")

	res, err := m.ReportLeak(ctx, apikey.LeakReport{Key: unknown})
	require.NoError(t, err)
	assert.False(t, res.Found)
	assert.Empty(t, leakEvents(t, m))

	k, secret := create(t, m, apikey.CreateParams{})
	for range 5 {
		res, err := m.ReportLeak(ctx, apikey.LeakReport{Key: secret, Source: "gitlab"})
		require.NoError(t, err)
		assert.True(t, res.Found, "replays are idempotent")
	}
	evs := leakEvents(t, m)
	require.Len(t, evs, 1, "the revocation; the replays within its minute are counted")
	assert.Equal(t, "revoked", evs[0].Details["result"])
	now.Add(int64(time.Minute))
	_, err = m.ReportLeak(ctx, apikey.LeakReport{Key: secret, Source: "gitlab"})
	require.NoError(t, err)
	evs = leakEvents(t, m)
	require.Len(t, evs, 2, "a minute later, the next replay is recorded")
	assert.Equal(t, "already_revoked", evs[1].Details["result"])
	assert.Equal(t, "4", evs[1].Details["suppressed"])
	assert.Equal(t, k.ID, evs[1].KeyID)
	revoked, err := m.ListAudit(ctx, audit.Query{Action: audit.KeyRevoked})
	require.NoError(t, err)
	assert.Len(t, revoked, 1, "revoked once")

	_, err = m.ReportLeak(ctx, apikey.LeakReport{Key: secret, Policy: "delete"})
	assert.ErrorIs(t, err, apikey.ErrInvalidParams)
}

// A store failure fails closed: an error, never "not found".
func TestReportLeakStoreFailure(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newCountingStore()
	m := newManager(t, store, apikey.WithAuditStore(memstore.New()))
	_, secret := create(t, m, apikey.CreateParams{})
	store.fail.Store(true)
	_, err := m.ReportLeak(ctx, apikey.LeakReport{Key: secret})
	assert.ErrorIs(t, err, apikey.ErrStoreUnavailable)
	_, err = m.Lookup(ctx, secret)
	assert.ErrorIs(t, err, apikey.ErrStoreUnavailable)
	store.fail.Store(false)
	res, err := m.ReportLeak(ctx, apikey.LeakReport{Key: secret})
	require.NoError(t, err)
	assert.True(t, res.Found, "reporting again works")
}

// Keys of older digest schemes (an old pepper) are found too, and not
// re-hashed by a lookup.
func TestReportLeakLegacyScheme(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := memstore.New()
	oldPepper, newPepper := []byte("the old pepper of sixteen+ bytes"), []byte("the new pepper of sixteen+ bytes")
	old := newManager(t, store, apikey.WithPepper(oldPepper))
	k, secret := create(t, old, apikey.CreateParams{})
	m := newManager(t, store, apikey.WithPepper(newPepper, oldPepper))

	got, err := m.Lookup(ctx, secret)
	require.NoError(t, err)
	assert.Equal(t, k.ID, got.ID)
	rec, err := store.ByID(ctx, k.ID)
	require.NoError(t, err)
	assert.Equal(t, old.DigestScheme(), rec.DigestScheme, "Lookup does not re-hash")

	res, err := m.ReportLeak(ctx, apikey.LeakReport{Key: secret})
	require.NoError(t, err)
	assert.True(t, res.Found)
	_, err = old.Verify(ctx, secret)
	assert.ErrorIs(t, err, apikey.ErrRevoked)
}

// Where a key was found is sanitised before the audit log: no key (the
// reported one or another), no credentials, query or fragment of a URL, no
// control characters, bounded length.
func TestReportLeakSanitisesWhere(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t, memstore.New())
	_, secret := create(t, m, apikey.CreateParams{})
	_, another := create(t, m, apikey.CreateParams{})
	url := "https://user:" + another + "@example.com/p/" + secret + strings.Repeat("/long", 200) + "?token=" + secret + "#" + secret
	source := "github:\x1b[31m" + secret + strings.Repeat("s", 200)
	_, err := m.ReportLeak(ctx, apikey.LeakReport{Key: secret, URL: url, Source: source})
	require.NoError(t, err)
	evs := leakEvents(t, m)
	require.Len(t, evs, 1)
	d := evs[0].Details
	assert.True(t, strings.HasPrefix(d["url"], "https://example.com/p/[redacted]/long/long"), d["url"])
	assert.LessOrEqual(t, len(d["url"]), 512)
	assert.LessOrEqual(t, len(d["source"]), 64)
	assert.True(t, strings.HasPrefix(d["source"], "github:?[[redacted]"), d["source"])
	for _, v := range d {
		assert.NotContains(t, v, secret[12:])
		assert.NotContains(t, v, another[12:])
		assert.NotContains(t, v, "token=")
	}
}

func TestLookup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for name, newStore := range leakStores(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := newStore(t)
			both := newManager(t, store, apikey.WithEnvironments(apikey.EnvLive, apikey.EnvTest))
			k, secret := create(t, both, apikey.CreateParams{Environment: apikey.EnvTest})
			// A leaked test key is found by a live-only Manager too.
			m := newManager(t, store)
			got, err := m.Lookup(ctx, secret)
			require.NoError(t, err)
			assert.Equal(t, k.ID, got.ID)
			require.NoError(t, m.Revoke(ctx, k.ID))
			got, err = m.Lookup(ctx, secret)
			require.NoError(t, err, "revoked keys are found")
			assert.Equal(t, apikey.StatusRevoked, got.Status(time.Now()))
			_, err = m.Lookup(ctx, "sk_live_nope")
			assert.ErrorIs(t, err, apikey.ErrMalformedKey)
			require.NoError(t, m.Close())
			_, err = m.Lookup(ctx, secret)
			assert.ErrorIs(t, err, apikey.ErrClosed)
		})
	}
}

// Another instance that has the key cached refuses it as soon as
// ReportLeak returns, through the Invalidator.
func TestReportLeakEvictsOtherInstances(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store, inv := memstore.New(), newLocalInvalidator()
	a := newManager(t, store, apikey.WithCache(time.Hour), apikey.WithInvalidator(inv))
	b := newManager(t, store, apikey.WithCache(time.Hour), apikey.WithInvalidator(inv))
	_, secret := create(t, a, apikey.CreateParams{})
	_, err := b.Verify(ctx, secret)
	require.NoError(t, err)
	_, err = a.ReportLeak(ctx, apikey.LeakReport{Key: secret, Policy: apikey.LeakDisable})
	require.NoError(t, err)
	_, err = b.Verify(ctx, secret)
	assert.ErrorIs(t, err, apikey.ErrDisabled)
}
