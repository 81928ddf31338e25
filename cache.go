package apikey

import (
	"container/list"
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/keyward/apikey/internal/readmap"
)

// The verification cache.
//
// Positive entries map a key's digest to its record for at most the
// staleness bound (WithCache, default 30 s): a revoke, rotate or disable
// made through another Manager is seen within that bound, or at once with
// an Invalidator. Changes made through this Manager evict synchronously.
// Expiry is checked against the record on every use, so a cached key never
// outlives its ExpiresAt. Store errors are never cached.
//
// Negative entries remember, for a short TTL, that a well-formed key is
// unknown, so a flood of made-up keys costs at most one store lookup per
// distinct key per TTL. They live in a bounded LRU and are filled only on a
// definitive not-found.
//
// Staleness is measured in ticks of the Manager's background loop (real
// time, whatever WithClock says), conservatively: an entry is used only
// while it is certainly younger than the bound.

type verifyCache struct {
	maxAgeTicks int64 // entries younger than this many whole ticks are fresh; 0: no positive caching
	negTicks    int64
	epoch       atomic.Int64
	// Reads are lock free and allocation free; an insert costs O(1)
	// amortized however many keys are cached (see internal/readmap).
	shards [256]readmap.Map[Digest, cacheEntry]

	// gen counts evictions. A fill that started before an eviction must
	// neither be cached nor shared with a Verify that started after it.
	gen atomic.Uint64

	idMu sync.Mutex
	byID map[string]Digest // the entry of each cached key, for eviction by ID

	flights flightGroup
	neg     *negativeCache

	// bypass is set while the Invalidator's feed is down (see
	// InvalidatorHealth): no entry is fresh.
	bypass atomic.Bool
}

type cacheEntry struct {
	rec     atomic.Pointer[Record]
	fetched atomic.Int64 // epoch of the fetch
	usage   atomic.Pointer[usageCounter]
}

func newVerifyCache(maxAgeTicks int64, negTicks int64, negSize int) *verifyCache {
	c := &verifyCache{maxAgeTicks: maxAgeTicks, negTicks: negTicks, byID: map[string]Digest{}}
	c.flights.calls = map[Digest]*flight{}
	if negTicks > 0 && negSize > 0 {
		c.neg = &negativeCache{ttlTicks: negTicks, size: negSize, index: map[Digest]*list.Element{}}
	}
	return c
}

func (c *verifyCache) shard(d Digest) *readmap.Map[Digest, cacheEntry] { return &c.shards[d[0]] }

// get returns the fresh entry for d, if any.
func (c *verifyCache) get(d Digest) (*cacheEntry, bool) {
	e := c.shard(d).Load(d)
	if e == nil || c.epoch.Load()-e.fetched.Load() >= c.maxAgeTicks || c.bypass.Load() {
		return nil, false
	}
	return e, true
}

// put caches rec under d, unless an eviction happened since gen was read.
// Without positive caching it returns nil.
func (c *verifyCache) put(d Digest, rec *Record, gen uint64) *cacheEntry {
	if c.maxAgeTicks == 0 {
		return nil
	}
	sh := c.shard(d)
	// Publish the record only if no eviction raced the fetch. The check and
	// the store happen under idMu, which evictions also take.
	c.idMu.Lock()
	defer c.idMu.Unlock()
	if c.gen.Load() != gen {
		if e := sh.Load(d); e != nil {
			return e
		}
		return &cacheEntry{} // counts usage, never published
	}
	// The entry is complete before readers can see it.
	e := &cacheEntry{}
	e.rec.Store(rec)
	e.fetched.Store(c.epoch.Load())
	if old, loaded := sh.LoadOrStore(d, e); loaded {
		old.rec.Store(rec)
		old.fetched.Store(e.fetched.Load())
		e = old
	}
	c.byID[rec.ID] = d
	return e
}

// evictID drops the cached entry of key id, and bumps the generation so
// that fills in flight are not cached.
func (c *verifyCache) evictID(id string) {
	c.idMu.Lock()
	c.gen.Add(1)
	d, ok := c.byID[id]
	delete(c.byID, id)
	c.idMu.Unlock()
	if ok {
		c.shard(d).Delete(d)
	}
}

// sweep drops entries not refreshed for two staleness bounds: unused keys.
func (c *verifyCache) sweep() {
	now := c.epoch.Load()
	for i := range c.shards {
		sh := &c.shards[i]
		var idle []Digest
		sh.Range(func(d Digest, e *cacheEntry) bool {
			if now-e.fetched.Load() >= 2*c.maxAgeTicks {
				idle = append(idle, d)
			}
			return true
		})
		if len(idle) == 0 {
			continue
		}
		c.idMu.Lock()
		for _, d := range idle {
			if e := sh.Load(d); e != nil && now-e.fetched.Load() >= 2*c.maxAgeTicks {
				sh.Delete(d)
				if rec := e.rec.Load(); rec != nil && c.byID[rec.ID] == d {
					delete(c.byID, rec.ID)
				}
			}
		}
		c.idMu.Unlock()
	}
	if c.neg != nil {
		c.neg.sweep(now)
	}
}

// negativeCache is a bounded LRU of digests known not to exist.
type negativeCache struct {
	ttlTicks int64
	size     int
	mu       sync.Mutex
	lru      list.List // of negEntry, most recent at the front
	index    map[Digest]*list.Element
}

type negEntry struct {
	d       Digest
	expires int64 // epoch
}

func (n *negativeCache) has(d Digest, now int64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	el, ok := n.index[d]
	if !ok {
		return false
	}
	if el.Value.(negEntry).expires <= now {
		n.lru.Remove(el)
		delete(n.index, d)
		return false
	}
	return true
}

func (n *negativeCache) add(d Digest, now int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if el, ok := n.index[d]; ok {
		el.Value = negEntry{d: d, expires: now + n.ttlTicks}
		n.lru.MoveToFront(el)
		return
	}
	n.index[d] = n.lru.PushFront(negEntry{d: d, expires: now + n.ttlTicks})
	for n.lru.Len() > n.size {
		oldest := n.lru.Back()
		n.lru.Remove(oldest)
		delete(n.index, oldest.Value.(negEntry).d)
	}
}

func (n *negativeCache) remove(d Digest) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if el, ok := n.index[d]; ok {
		n.lru.Remove(el)
		delete(n.index, d)
	}
}

func (n *negativeCache) sweep(now int64) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for el := n.lru.Back(); el != nil; {
		prev := el.Prev()
		if e := el.Value.(negEntry); e.expires <= now {
			n.lru.Remove(el)
			delete(n.index, e.d)
		}
		el = prev
	}
}

// flightGroup makes concurrent misses on one digest share one store call
// (singleflight), but only among callers of the same cache generation.
type flightGroup struct {
	mu    sync.Mutex
	calls map[Digest]*flight
}

type flight struct {
	gen  uint64
	done chan struct{}
	rec  *Record
	err  error
}

// do runs fetch once for d among callers with the same gen. fetch must not
// depend on any one caller's cancellation (the caller detaches it): a
// waiter whose own context ends stops waiting, the others get the result.
func (g *flightGroup) do(ctx context.Context, d Digest, gen uint64, fetch func() (*Record, error)) (*Record, error) {
	g.mu.Lock()
	if f, ok := g.calls[d]; ok && f.gen == gen {
		g.mu.Unlock()
		select {
		case <-f.done:
			return f.rec, f.err
		case <-ctx.Done():
			return nil, storeErr("verify", ctx.Err())
		}
	}
	f := &flight{gen: gen, done: make(chan struct{}), err: errFetchPanicked}
	g.calls[d] = f
	g.mu.Unlock()

	defer func() { // even if fetch panics, waiters are released
		g.mu.Lock()
		if g.calls[d] == f {
			delete(g.calls, d)
		}
		g.mu.Unlock()
		close(f.done)
	}()
	f.rec, f.err = fetch()
	return f.rec, f.err
}

var errFetchPanicked = fmt.Errorf("%w: lookup panicked", ErrStoreUnavailable)
