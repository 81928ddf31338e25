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

// unknownKeyReads is what one lookup of an unknown key costs the store: its
// current digest ("sha256/v2"), its v1 digest ("sha256", still verified and
// re-hashed on use), then the current digest again, in case another
// instance re-hashed the key in between.
const unknownKeyReads = 3

// gatedStore holds ByDigest calls until released. It reads the record
// before waiting, like a query whose answer is stale by the time it arrives.
type gatedStore struct {
	*countingStore
	gate chan struct{}
}

func (s *gatedStore) ByDigest(ctx context.Context, d apikey.Digest) (*apikey.Record, error) {
	rec, err := s.countingStore.ByDigest(ctx, d)
	<-s.gate
	return rec, err
}

func TestCacheServesHitsWithoutTheStore(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store := newCountingStore()
		m := newManager(t, store, apikey.WithCache(30*time.Second))
		_, secret := create(t, m, apikey.CreateParams{})
		for range 10 {
			_, err := m.Verify(ctx, secret)
			require.NoError(t, err)
		}
		assert.Equal(t, int64(1), store.reads.Load(), "one lookup, then hits")

		// A change made elsewhere (another instance: here, the store
		// directly) is seen once the staleness bound has passed.
		k, err := m.Verify(ctx, secret)
		require.NoError(t, err)
		_, err = store.Store.Revoke(ctx, k.ID, time.Now())
		require.NoError(t, err)
		time.Sleep(28 * time.Second)
		synctest.Wait()
		_, err = m.Verify(ctx, secret)
		assert.NoError(t, err, "within the staleness bound the cached record is used")
		time.Sleep(2 * time.Second)
		synctest.Wait()
		_, err = m.Verify(ctx, secret)
		assert.ErrorIs(t, err, apikey.ErrRevoked, "never older than the bound")
	})
}

func TestCacheEvictsOnChangesThroughTheManager(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t, newCountingStore(), apikey.WithCache(time.Hour))
	for name, change := range map[string]func(id string) error{
		"revoke":  func(id string) error { return m.Revoke(ctx, id) },
		"disable": func(id string) error { _, err := m.Disable(ctx, id); return err },
		"rotate":  func(id string) error { _, _, err := m.Rotate(ctx, id, 0); return err },
	} {
		k, secret := create(t, m, apikey.CreateParams{})
		_, err := m.Verify(ctx, secret)
		require.NoError(t, err)
		require.NoError(t, change(k.ID))
		_, err = m.Verify(ctx, secret)
		assert.ErrorIs(t, err, apikey.ErrInvalidKey, name)
	}
}

func TestCacheNeverOutlivesExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		m := newManager(t, newCountingStore(), apikey.WithCache(time.Hour))
		_, secret := create(t, m, apikey.CreateParams{ExpiresAt: time.Now().Add(time.Minute)})
		_, err := m.Verify(ctx, secret)
		require.NoError(t, err)
		time.Sleep(time.Minute)
		_, err = m.Verify(ctx, secret)
		assert.ErrorIs(t, err, apikey.ErrExpired)
	})
}

func TestNegativeCache(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store := newCountingStore()
		m := newManager(t, store, apikey.WithNegativeCache(5*time.Second, 100))
		other := newManager(t, newCountingStore())
		_, unknown := create(t, other, apikey.CreateParams{})

		for range 50 {
			_, err := m.Verify(ctx, unknown)
			require.ErrorIs(t, err, apikey.ErrUnknownKey)
		}
		assert.Equal(t, int64(unknownKeyReads), store.reads.Load(), "a flood of one unknown key: one lookup per TTL")
		time.Sleep(5 * time.Second)
		synctest.Wait() // let the background loop take its tick at the same instant
		_, err := m.Verify(ctx, unknown)
		require.ErrorIs(t, err, apikey.ErrUnknownKey)
		assert.Equal(t, int64(2*unknownKeyReads), store.reads.Load(), "looked up again after the TTL")

		// Bounded: 150 distinct unknown keys in a cache of 100 evict the
		// oldest, which is then looked up again.
		var keys []string
		for range 150 {
			_, k := create(t, other, apikey.CreateParams{})
			keys = append(keys, k)
			_, err := m.Verify(ctx, k)
			require.ErrorIs(t, err, apikey.ErrUnknownKey)
		}
		reads := store.reads.Load()
		_, err = m.Verify(ctx, keys[len(keys)-1])
		require.ErrorIs(t, err, apikey.ErrUnknownKey)
		assert.Equal(t, reads, store.reads.Load(), "the newest is still remembered")
		_, err = m.Verify(ctx, keys[0])
		require.ErrorIs(t, err, apikey.ErrUnknownKey)
		assert.Equal(t, reads+unknownKeyReads, store.reads.Load(), "the oldest was evicted")
	})
}

func TestStoreErrorsAreNotCached(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newCountingStore()
	m := newManager(t, store)
	_, secret := create(t, m, apikey.CreateParams{})
	store.fail.Store(true)
	for range 3 {
		_, err := m.Verify(ctx, secret)
		require.ErrorIs(t, err, apikey.ErrStoreUnavailable)
	}
	store.fail.Store(false)
	_, err := m.Verify(ctx, secret)
	assert.NoError(t, err, "an error is neither a negative entry nor sticky")
}

func TestConcurrentMissesShareOneLookup(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store := &gatedStore{countingStore: newCountingStore(), gate: make(chan struct{})}
		m := newManager(t, store)
		_, secret := create(t, m, apikey.CreateParams{})
		var wg sync.WaitGroup
		for range 20 {
			wg.Go(func() {
				_, err := m.Verify(ctx, secret)
				assert.NoError(t, err)
			})
		}
		synctest.Wait() // every goroutine is in Verify: one in the store, the rest waiting on it
		close(store.gate)
		wg.Wait()
		assert.Equal(t, int64(1), store.reads.Load())
	})
}

// A lookup that started before Revoke must not put the key back in the
// cache, nor be shared with a Verify that starts after Revoke returns.
func TestFillRacingRevokeIsNotCached(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store := &gatedStore{countingStore: newCountingStore(), gate: make(chan struct{})}
		m := newManager(t, store, apikey.WithCache(time.Hour))
		k, secret := create(t, m, apikey.CreateParams{})

		early := make(chan error, 1)
		go func() { _, err := m.Verify(ctx, secret); early <- err }()
		synctest.Wait() // the early Verify has read the live record and waits

		require.NoError(t, m.Revoke(ctx, k.ID))
		late := make(chan error, 1)
		go func() { _, err := m.Verify(ctx, secret); late <- err }()
		synctest.Wait()
		close(store.gate)

		assert.NoError(t, <-early, "started before Revoke: may succeed")
		assert.ErrorIs(t, <-late, apikey.ErrRevoked, "started after Revoke: must not join the stale lookup")
		_, err := m.Verify(ctx, secret)
		assert.ErrorIs(t, err, apikey.ErrRevoked, "the stale record was not cached")
	})
}

func TestInvalidatorEvictsOtherManagers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newCountingStore()
	inv := newLocalInvalidator()
	a := newManager(t, store, apikey.WithCache(time.Hour), apikey.WithInvalidator(inv))
	b := newManager(t, store, apikey.WithCache(time.Hour), apikey.WithInvalidator(inv))
	k, secret := create(t, a, apikey.CreateParams{})
	_, err := b.Verify(ctx, secret)
	require.NoError(t, err)
	require.NoError(t, a.Revoke(ctx, k.ID))
	_, err = b.Verify(ctx, secret)
	assert.ErrorIs(t, err, apikey.ErrRevoked, "b's cache was evicted by a's revoke")
}

func TestCacheOff(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newCountingStore()
	m := newManager(t, store, apikey.WithCache(0))
	_, secret := create(t, m, apikey.CreateParams{})
	for range 3 {
		_, err := m.Verify(ctx, secret)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(3), store.reads.Load())
}

// commitThenFailStore commits revokes but reports a timeout, as a database
// can when the answer is lost.
type commitThenFailStore struct{ *countingStore }

func (s commitThenFailStore) Revoke(ctx context.Context, id string, at time.Time) (*apikey.Record, error) {
	_, _ = s.countingStore.Revoke(ctx, id, at)
	return nil, context.DeadlineExceeded
}

func TestWriteThatFailsStillEvicts(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := newManager(t, commitThenFailStore{newCountingStore()}, apikey.WithCache(time.Hour))
	k, secret := create(t, m, apikey.CreateParams{})
	_, err := m.Verify(ctx, secret)
	require.NoError(t, err)
	assert.ErrorIs(t, m.Revoke(ctx, k.ID), apikey.ErrStoreUnavailable)
	_, err = m.Verify(ctx, secret)
	assert.ErrorIs(t, err, apikey.ErrRevoked, "the revoke committed: the cached entry must not outlive it")
}

// hangingUsageStore never finishes writing usage until its context ends.
type hangingUsageStore struct{ *countingStore }

func (s hangingUsageStore) AddUsage(ctx context.Context, u []apikey.Usage) error {
	<-ctx.Done()
	return ctx.Err()
}

func TestSlowUsageWritesDoNotStretchStaleness(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		store := hangingUsageStore{newCountingStore()}
		m := newManager(t, store, apikey.WithCache(30*time.Second), apikey.WithUsageFlushInterval(time.Minute))
		k, secret := create(t, m, apikey.CreateParams{})
		_, err := m.Verify(ctx, secret)
		require.NoError(t, err)
		_, err = store.Store.Revoke(ctx, k.ID, time.Now()) // another instance's revoke
		require.NoError(t, err)
		time.Sleep(90 * time.Second) // a flush has been hanging since 60 s
		synctest.Wait()
		_, err = m.Verify(ctx, secret)
		assert.ErrorIs(t, err, apikey.ErrRevoked)
	})
}

func TestLeaderCancellationDoesNotFailWaiters(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		store := &gatedStore{countingStore: newCountingStore(), gate: make(chan struct{})}
		m := newManager(t, store)
		_, secret := create(t, m, apikey.CreateParams{})
		leaderCtx, cancel := context.WithCancel(context.Background())
		leader := make(chan error, 1)
		go func() { _, err := m.Verify(leaderCtx, secret); leader <- err }()
		synctest.Wait()
		waiter := make(chan error, 1)
		go func() { _, err := m.Verify(context.Background(), secret); waiter <- err }()
		synctest.Wait()
		cancel() // the first client goes away
		close(store.gate)
		assert.NoError(t, <-waiter, "another client's cancellation is not this one's failure")
		<-leader
		assert.Equal(t, int64(1), store.reads.Load())
	})
}

func TestNegativeCacheWorksWithoutPositiveCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	store := newCountingStore()
	m := newManager(t, store, apikey.WithCache(0))
	other := newManager(t, newCountingStore())
	_, unknown := create(t, other, apikey.CreateParams{})
	for range 10 {
		_, err := m.Verify(ctx, unknown)
		require.ErrorIs(t, err, apikey.ErrUnknownKey)
	}
	assert.Equal(t, int64(unknownKeyReads), store.reads.Load())
}

// TestVerifyHotPathDoesNotAllocate: a cached hit, with usage counting, with
// and without a pepper, allocates nothing; malformed keys and bad checksums
// are refused without allocating and before any store call. (Not parallel:
// AllocsPerRun counts every allocation of the process.)
func TestVerifyHotPathDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	for name, opts := range map[string][]apikey.Option{
		"sha256": nil,
		"hmac":   {apikey.WithPepper([]byte("pepper: 32 random bytes, really!"))},
	} {
		store := newCountingStore()
		m := newManager(t, store, opts...)
		_, secret := create(t, m, apikey.CreateParams{Scopes: []string{"read"}})
		_, err := m.Verify(ctx, secret, "read")
		require.NoError(t, err)
		reads := store.reads.Load()
		assert.Zero(t, testing.AllocsPerRun(200, func() {
			if _, err := m.Verify(ctx, secret, "read"); err != nil {
				t.Error(err)
			}
		}), "%s: cached hit", name)
		assert.Equal(t, reads, store.reads.Load(), "%s: hits never reach the store", name)

		body := secret[:len(secret)-checksumLen]
		badSum := body + "000000"
		if badSum == secret {
			badSum = body + "000001"
		}
		for what, key := range map[string]string{
			"malformed":    "sk_live_not-a-key",
			"wrong length": secret + "0",
			"not base62":   body[:20] + "-" + body[21:] + secret[len(body):],
			"bad checksum": badSum,
		} {
			assert.Zero(t, testing.AllocsPerRun(200, func() {
				if _, err := m.Verify(ctx, key); !errors.Is(err, apikey.ErrMalformedKey) {
					t.Errorf("%s: %v", what, err)
				}
			}), "%s: %s", name, what)
		}
		assert.Equal(t, reads, store.reads.Load(), "%s: refused before any store call", name)
	}
}

// localInvalidator is an Invalidator within one process, for tests of
// several Managers over one store.
type localInvalidator struct {
	mu   sync.Mutex
	next int
	subs map[int]func(string)
}

// newLocalInvalidator returns an in-process Invalidator.
func newLocalInvalidator() *localInvalidator {
	return &localInvalidator{subs: map[int]func(string){}}
}

// Publish implements Invalidator.
func (l *localInvalidator) Publish(ctx context.Context, keyID string) error {
	l.mu.Lock()
	subs := make([]func(string), 0, len(l.subs))
	for _, fn := range l.subs {
		subs = append(subs, fn)
	}
	l.mu.Unlock()
	for _, fn := range subs {
		fn(keyID)
	}
	return nil
}

// Subscribe implements Invalidator.
func (l *localInvalidator) Subscribe(fn func(string)) func() {
	l.mu.Lock()
	defer l.mu.Unlock()
	id := l.next
	l.next++
	l.subs[id] = fn
	return func() {
		l.mu.Lock()
		defer l.mu.Unlock()
		delete(l.subs, id)
	}
}
