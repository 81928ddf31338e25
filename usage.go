package apikey

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/keyward/apikey/internal/cowmap"
)

// Usage tracking, written behind.
//
// Verify never writes to the store: a successful verification bumps an
// in-memory counter (lock-free, no allocation once the key has a counter),
// and a background goroutine writes every key's count and last-use time in
// one batch per interval. Counts are additive in the store, so instances
// sharing one database add up correctly. A crash loses at most one interval
// of counts; Close flushes. A failed flush puts the counts back for the next.
// Each write of a flush (at most usageFlushChunk keys) is bounded by the
// store timeout (at most half the interval), and the first failure ends
// the flush, so a stalled store holds neither the flusher nor Close for
// long, while a slow one still takes every count.
//
// LastUsedAt has one-second resolution (see reportLastUsed). Uses are stamped with a coarse
// clock the flusher refreshes every second (reading the clock costs more
// than the rest of the bookkeeping), and a counter's timestamp is only moved
// when it is a second old, so concurrent verifications of one key rarely
// write to the same memory.

const usageShards = 64

type usageTracker struct {
	clock  func() time.Time
	coarse atomic.Int64 // Unix nanoseconds, refreshed every coarseTick
	store  Store
	logger *slog.Logger
	shards [usageShards]cowmap.Map[string, *usageCounter]
	// timeout bounds each write of a flush (set before the background
	// starts; 0: the caller's context alone).
	timeout time.Duration

	flushMu sync.Mutex // one flush at a time: the flusher alone retires counters
}

type usageCounter struct {
	count atomic.Int64 // uses since the last flush; -1 once retired
	last  atomic.Int64 // Unix nanoseconds of the latest use
	idle  int          // flushes in a row without use (flusher only)
}

// retireAfterIdle: a counter unused for this many flushes is dropped, so
// memory follows the keys in use, not every key ever seen.
const retireAfterIdle = 3

func newUsageTracker(store Store, clock func() time.Time, logger *slog.Logger) *usageTracker {
	t := &usageTracker{clock: clock, store: store, logger: logger}
	t.tick()
	return t
}

// tick refreshes the coarse clock; the Manager's loop calls it.
func (t *usageTracker) tick() { t.coarse.Store(t.clock().UnixNano()) }

// flushLogged flushes and logs a failure; the counts stay for next time.
func (t *usageTracker) flushLogged(ctx context.Context) {
	if err := t.flush(ctx); err != nil {
		t.logger.LogAttrs(ctx, slog.LevelWarn, "apikey: writing usage counts failed; kept for the next flush",
			slog.String("error", err.Error()))
	}
}

func shardOf(id string) int {
	// IDs end in random characters (UUIDv7); the tail spreads them.
	h := uint32(2166136261)
	for i := max(0, len(id)-8); i < len(id); i++ {
		h = (h ^ uint32(id[i])) * 16777619
	}
	return int(h % usageShards)
}

// record counts one use of key id, now.
func (t *usageTracker) record(id string) {
	t.add(id, 1, t.coarse.Load())
}

// recordCached counts one use of key id through the counter a cache entry
// remembers, which skips the lookup by ID.
func (t *usageTracker) recordCached(hint *atomic.Pointer[usageCounter], id string) {
	now := t.coarse.Load()
	c := hint.Load()
	if c == nil || !c.add(1) {
		hint.Store(t.add(id, 1, now))
		return
	}
	c.touch(now)
}

func (c *usageCounter) touch(lastNano int64) {
	if lastNano-c.last.Load() >= int64(time.Second) {
		c.last.Store(lastNano)
	}
}

// add counts n uses of key id and returns the counter it used.
func (t *usageTracker) add(id string, n, lastNano int64) *usageCounter {
	sh := &t.shards[shardOf(id)]
	c, ok := sh.Load(id)
	if !ok {
		c = t.counter(sh, id)
	}
	for !c.add(n) {
		// Retired between Load and add: the slow path replaces it.
		c = t.counter(sh, id)
	}
	c.touch(lastNano)
	return c
}

// counter returns the live counter of id, creating it if needed.
func (t *usageTracker) counter(sh *cowmap.Map[string, *usageCounter], id string) (c *usageCounter) {
	sh.Update(func(m map[string]*usageCounter) {
		if old, ok := m[id]; ok && old.count.Load() >= 0 {
			c = old
			return
		}
		c = &usageCounter{}
		m[id] = c
	})
	return c
}

func (c *usageCounter) add(n int64) bool {
	for {
		v := c.count.Load()
		if v < 0 {
			return false
		}
		if c.count.CompareAndSwap(v, v+n) {
			return true
		}
	}
}

// flush writes every pending count, in AddUsage calls of at most
// usageFlushChunk keys.
func (t *usageTracker) flush(ctx context.Context) error {
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	var batch []Usage
	for i := range t.shards {
		sh := &t.shards[i]
		var retired map[string]*usageCounter
		for id, c := range sh.Snapshot() {
			if n := c.count.Swap(0); n > 0 {
				batch = append(batch, Usage{ID: id, Count: n, LastUsedAt: usedAt(c.last.Load())})
				c.idle = 0
				continue
			}
			if c.idle++; c.idle >= retireAfterIdle && c.count.CompareAndSwap(0, -1) {
				if retired == nil {
					retired = map[string]*usageCounter{}
				}
				retired[id] = c
			}
		}
		if len(retired) > 0 {
			sh.Update(func(m map[string]*usageCounter) {
				for id, c := range retired {
					if m[id] == c { // not already replaced by a new counter
						delete(m, id)
					}
				}
			})
		}
	}
	// In chunks, each bounded by the timeout: a write's time grows with its
	// keys, the timeout does not. The first failure stops the flush (a
	// stalled store holds it one timeout), and what is unwritten goes back.
	for len(batch) > 0 {
		chunk := batch[:min(len(batch), usageFlushChunk)]
		if err := t.write(ctx, chunk); err != nil {
			for _, u := range batch {
				t.add(u.ID, u.Count, u.LastUsedAt.UnixNano())
			}
			return err
		}
		batch = batch[len(chunk):]
	}
	return nil
}

// usageFlushChunk is the most keys one AddUsage call carries (one
// statement in the SQL stores).
const usageFlushChunk = 400

// write is one AddUsage call, bounded by the timeout.
func (t *usageTracker) write(ctx context.Context, chunk []Usage) error {
	if t.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, t.timeout)
		defer cancel()
	}
	return t.store.AddUsage(ctx, chunk)
}

// addPending adds to k the uses not yet written to the store.
func (t *usageTracker) addPending(k *Key) {
	c, ok := t.shards[shardOf(k.ID)].Load(k.ID)
	if !ok {
		return
	}
	if n := c.count.Load(); n > 0 {
		k.RequestCount += n
		if last := usedAt(c.last.Load()); last.After(k.LastUsedAt) {
			k.LastUsedAt = last
		}
	}
}

// usedAt is the time of a use as written and reported: whole seconds, the
// resolution of the coarse clock, so a store of any precision keeps it as
// is and LastUsedAt reads the same before and after a flush.
func usedAt(nano int64) time.Time { return time.Unix(nano/int64(time.Second), 0).UTC() }

// reportLastUsed sets k.LastUsedAt as Get and List report it: in whole
// seconds, and never before CreatedAt. A use in the key's first second is
// stamped by a coarse clock that may read earlier than the creation (or be
// truncated to before it): it reads as CreatedAt.
func reportLastUsed(k *Key) {
	if k.LastUsedAt.IsZero() {
		return
	}
	k.LastUsedAt = k.LastUsedAt.UTC().Truncate(time.Second)
	if k.LastUsedAt.Before(k.CreatedAt) {
		k.LastUsedAt = k.CreatedAt
	}
}
