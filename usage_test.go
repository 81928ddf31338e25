package apikey_test

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// stalledUsageStore's AddUsage hangs until its context ends, as a stalled
// database does, and records how long each call was held.
type stalledUsageStore struct {
	apikey.Store
	stalled atomic.Bool
	mu      sync.Mutex
	held    []time.Duration
}

func (s *stalledUsageStore) AddUsage(ctx context.Context, u []apikey.Usage) error {
	if !s.stalled.Load() {
		return s.Store.AddUsage(ctx, u)
	}
	start := time.Now()
	<-ctx.Done()
	s.mu.Lock()
	s.held = append(s.held, time.Since(start))
	s.mu.Unlock()
	return ctx.Err()
}

// A usage flush is bounded by the store timeout, not by the flush
// interval: a stalled store neither makes flushes run back to back nor
// holds Close for more than one store timeout.
func TestUsageFlushBoundedByStoreTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := &stalledUsageStore{Store: memstore.New()}
		m, err := apikey.New(s, apikey.WithStoreTimeout(time.Second), apikey.WithUsageFlushInterval(10*time.Second))
		require.NoError(t, err)
		_, secret, err := m.Create(ctx, apikey.CreateParams{Name: "used"})
		require.NoError(t, err)
		s.stalled.Store(true)
		_, err = m.Verify(ctx, secret)
		require.NoError(t, err)

		time.Sleep(35 * time.Second) // three flushes, each stalled
		synctest.Wait()
		s.mu.Lock()
		held := append([]time.Duration(nil), s.held...)
		s.mu.Unlock()
		require.Len(t, held, 3)
		for _, d := range held {
			assert.Equal(t, time.Second, d, "each flush waits one store timeout")
		}

		time.Sleep(5*time.Second + 100*time.Millisecond) // the fourth flush is under way
		start := time.Now()
		require.Error(t, m.Close(), "the store is stalled")
		assert.LessOrEqual(t, time.Since(start), time.Second, "Close waits one store timeout at most")
	})
}

// Half the interval bounds a flush when the store timeout is longer.
func TestUsageFlushBoundedByHalfTheInterval(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := &stalledUsageStore{Store: memstore.New()}
		m, err := apikey.New(s, apikey.WithUsageFlushInterval(2*time.Second)) // store timeout 5 s
		require.NoError(t, err)
		created, secret, err := m.Create(ctx, apikey.CreateParams{Name: "used"})
		require.NoError(t, err)
		s.stalled.Store(true)
		_, err = m.Verify(ctx, secret)
		require.NoError(t, err)
		time.Sleep(2*time.Second + 500*time.Millisecond)
		synctest.Wait()
		s.stalled.Store(false)
		time.Sleep(time.Second)
		synctest.Wait()
		require.NoError(t, m.Close())
		s.mu.Lock()
		defer s.mu.Unlock()
		assert.Equal(t, []time.Duration{time.Second}, s.held)
		k, err := m.Get(ctx, created.ID)
		require.NoError(t, err)
		assert.Equal(t, int64(1), k.RequestCount, "counts kept for the next flush")
	})
}

// slowUsageStore's AddUsage takes time in proportion to the batch, as a
// database's does, and gives up when its context ends.
type slowUsageStore struct {
	apikey.Store
	perKey time.Duration
}

func (s *slowUsageStore) AddUsage(ctx context.Context, u []apikey.Usage) error {
	select {
	case <-time.After(time.Duration(len(u)) * s.perKey):
		return s.Store.AddUsage(ctx, u)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// The store timeout bounds each write of a flush, not a whole flush of
// every key used in the interval: a healthy store that takes longer than
// one store timeout to write many keys still gets all their counts
// (before, every flush failed and the counts were never written).
func TestUsageFlushOfManyKeysFitsTheStoreTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		s := &slowUsageStore{Store: memstore.New(), perKey: time.Millisecond}
		m, err := apikey.New(s, apikey.WithStoreTimeout(time.Second), apikey.WithUsageFlushInterval(10*time.Second))
		require.NoError(t, err)
		const keys = 3000 // 3 s to write at once, 1 ms a key
		ids := make([]string, keys)
		for i := range ids {
			k, secret, err := m.Create(ctx, apikey.CreateParams{Name: "used"})
			require.NoError(t, err)
			ids[i] = k.ID
			_, err = m.Verify(ctx, secret)
			require.NoError(t, err)
		}
		time.Sleep(25 * time.Second) // two flushes
		synctest.Wait()
		for _, id := range []string{ids[0], ids[keys/2], ids[keys-1]} {
			rec, err := s.Store.ByID(ctx, id)
			require.NoError(t, err)
			assert.Equal(t, int64(1), rec.RequestCount, "written by the flushes, not left for Close")
		}
		require.NoError(t, m.Close())
	})
}

// microStore keeps usage times to the microsecond, as the SQL stores do.
type microStore struct{ *memstore.Store }

func (s microStore) AddUsage(ctx context.Context, u []apikey.Usage) error {
	u = slices.Clone(u)
	for i := range u {
		u[i].LastUsedAt = u[i].LastUsedAt.Truncate(time.Microsecond)
	}
	return s.Store.AddUsage(ctx, u)
}

// LastUsedAt is never earlier than CreatedAt, although uses are stamped
// with a clock refreshed once a second, and reads the same (whole seconds)
// before and after the flush, whatever precision the store keeps.
func TestLastUsedAtNotBeforeCreatedAtAndStableAcrossFlush(t *testing.T) {
	t.Parallel()
	for name, store := range map[string]func() apikey.Store{
		"memstore":     func() apikey.Store { return memstore.New() },
		"microseconds": func() apikey.Store { return microStore{memstore.New()} },
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := context.Background()
				time.Sleep(300*time.Millisecond + 123) // the coarse clock ticks at .300000123
				m, err := apikey.New(store(), apikey.WithUsageFlushInterval(10*time.Second))
				require.NoError(t, err)
				defer m.Close()
				time.Sleep(1900 * time.Millisecond) // 2.200000123: the last tick was at 1.300000123
				created, secret, err := m.Create(ctx, apikey.CreateParams{Name: "used"})
				require.NoError(t, err)
				_, err = m.Verify(ctx, secret)
				require.NoError(t, err)

				before, err := m.Get(ctx, created.ID)
				require.NoError(t, err)
				assert.False(t, before.LastUsedAt.Before(before.CreatedAt), "LastUsedAt %v before CreatedAt %v", before.LastUsedAt, before.CreatedAt)
				assert.Equal(t, before.CreatedAt, before.LastUsedAt, "used in its first second")

				time.Sleep(11 * time.Second) // a flush
				synctest.Wait()
				after, err := m.Get(ctx, created.ID)
				require.NoError(t, err)
				assert.Equal(t, int64(1), after.RequestCount, "flushed")
				assert.Equal(t, before.LastUsedAt, after.LastUsedAt, "the same before and after the flush")
				list, err := m.List(ctx, apikey.ListOptions{})
				require.NoError(t, err)
				require.Len(t, list, 1)
				assert.Equal(t, before.LastUsedAt, list[0].LastUsedAt, "List as Get")

				// A later use: whole seconds, the same before and after a flush.
				time.Sleep(time.Second)
				_, err = m.Verify(ctx, secret)
				require.NoError(t, err)
				before, err = m.Get(ctx, created.ID)
				require.NoError(t, err)
				assert.Equal(t, time.Date(2000, 1, 1, 0, 0, 13, 0, time.UTC), before.LastUsedAt, "used at 14.2: the tick of 13.300000123, in whole seconds")
				time.Sleep(11 * time.Second)
				synctest.Wait()
				after, err = m.Get(ctx, created.ID)
				require.NoError(t, err)
				assert.Equal(t, int64(2), after.RequestCount, "flushed")
				assert.Equal(t, before.LastUsedAt, after.LastUsedAt, "the same before and after the flush")
			})
		})
	}
}
