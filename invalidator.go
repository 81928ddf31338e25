package apikey

import (
	"context"
	"log/slog"
)

// Invalidator spreads cache evictions between Managers (instances of a
// service) that share one store. Without one, a change made on one
// instance reaches the others within their cache's staleness bound.
type Invalidator interface {
	// Publish tells every subscriber, including those of this process, that
	// the key with this ID changed.
	Publish(ctx context.Context, keyID string) error
	// Subscribe calls fn for each published key ID until the returned
	// function is called.
	Subscribe(fn func(keyID string)) (unsubscribe func())
}

// InvalidatorHealth is implemented by an Invalidator whose feed of
// evictions can break: a lost connection (PostgreSQL LISTEN), a failed poll
// (sqlstore.Poller). New checks for it. While the feed is down the Manager
// serves no key from its cache: every Verify asks the store, so a change
// made elsewhere is seen at once rather than within the staleness bound.
// When the feed is back, the Manager drops its whole cache (evictions sent
// meanwhile may have been missed) and caches again.
type InvalidatorHealth interface {
	// WatchHealth calls fn(false) when evictions may be missed from now on,
	// and fn(true) once the feed is back and has caught up. If the feed is
	// down when WatchHealth is called, it calls fn(false) before returning.
	// Calling stop ends the calls.
	WatchHealth(fn func(healthy bool)) (stop func())
}

// watchInvalidator hooks the cache to inv's health, if inv reports it.
func (m *Manager) watchInvalidator(inv Invalidator) (stop func()) {
	h, ok := inv.(InvalidatorHealth)
	if !ok {
		return nil
	}
	return h.WatchHealth(func(healthy bool) {
		if !healthy {
			if !m.cache.bypass.Swap(true) {
				m.logger.LogAttrs(context.Background(), slog.LevelWarn,
					"apikey: the invalidator lost its feed; verifying every key against the store until it has caught up")
			}
			return
		}
		if m.cache.bypass.Load() {
			// Evictions sent while the feed was down are lost: nothing
			// cached before now may be used.
			m.cache.dropAll()
			m.cache.bypass.Store(false)
			m.logger.LogAttrs(context.Background(), slog.LevelInfo,
				"apikey: the invalidator has caught up; cache emptied and in use again")
		}
	})
}

// dropAll empties the positive cache and bumps the generation, so fills in
// flight are not cached either.
func (c *verifyCache) dropAll() {
	c.idMu.Lock()
	defer c.idMu.Unlock()
	c.gen.Add(1)
	clear(c.byID)
	for i := range c.shards {
		sh := &c.shards[i]
		var all []Digest
		sh.Range(func(d Digest, _ *cacheEntry) bool {
			all = append(all, d)
			return true
		})
		for _, d := range all {
			sh.Delete(d)
		}
	}
}

// subscribe hooks the cache to inv's evictions and, if inv reports it, to
// its health. inv may be nil (WithInvalidator not set).
func (m *Manager) subscribe(inv Invalidator) {
	if m.inv = inv; inv != nil {
		m.unsubscribe = inv.Subscribe(m.cache.evictID)
		m.unwatch = m.watchInvalidator(inv)
	}
}
