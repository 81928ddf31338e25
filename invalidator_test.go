package apikey_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/keyward/apikey"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// flakyInvalidator is a localInvalidator whose feed the test breaks and
// restores.
type flakyInvalidator struct {
	*localInvalidator
	mu       sync.Mutex
	watchers []func(bool)
}

func (f *flakyInvalidator) WatchHealth(fn func(bool)) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.watchers = append(f.watchers, fn)
	return func() {}
}

func (f *flakyInvalidator) set(healthy bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, fn := range f.watchers {
		fn(healthy)
	}
}

func TestUnhealthyInvalidatorBypassesTheCache(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store := newCountingStore()
		inv := &flakyInvalidator{localInvalidator: newLocalInvalidator()}
		m := newManager(t, store, apikey.WithCache(30*time.Second), apikey.WithInvalidator(inv))
		k, secret, err := m.Create(ctx, apikey.CreateParams{Name: "n", OwnerID: "o"})
		require.NoError(t, err)
		_, err = m.Verify(ctx, secret)
		require.NoError(t, err)
		_, err = m.Verify(ctx, secret)
		require.NoError(t, err)
		require.Equal(t, int64(1), store.reads.Load(), "cached")

		// The feed breaks, then the key is revoked behind the Manager's
		// back (an operator's SQL, another instance): the eviction is lost.
		inv.set(false)
		_, err = store.Revoke(ctx, k.ID, time.Now())
		require.NoError(t, err)
		_, err = m.Verify(ctx, secret)
		assert.True(t, errors.Is(err, apikey.ErrRevoked), "while the feed is down every Verify asks the store: %v", err)
		assert.Equal(t, int64(2), store.reads.Load())

		// A second key, cached before the feed came back, must not be
		// trusted after: its changes may have been missed too.
		k2, secret2, err := m.Create(ctx, apikey.CreateParams{Name: "n", OwnerID: "o"})
		require.NoError(t, err)
		_, err = m.Verify(ctx, secret2)
		require.NoError(t, err)
		_, err = store.Revoke(ctx, k2.ID, time.Now())
		require.NoError(t, err)
		inv.set(true)
		_, err = m.Verify(ctx, secret2)
		assert.True(t, errors.Is(err, apikey.ErrRevoked), "the cache is emptied when the feed is back: %v", err)

		// Healthy again: hits are served from the cache.
		_, secret3, err := m.Create(ctx, apikey.CreateParams{Name: "n", OwnerID: "o"})
		require.NoError(t, err)
		_, err = m.Verify(ctx, secret3)
		require.NoError(t, err)
		reads := store.reads.Load()
		_, err = m.Verify(ctx, secret3)
		require.NoError(t, err)
		assert.Equal(t, reads, store.reads.Load(), "cached again")
	})
}
