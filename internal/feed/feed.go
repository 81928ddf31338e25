// Package feed is what the store's change-feed invalidators (sqlstore's
// Poller, pgnotify's Invalidator) share: the subscribers a change is told
// to, and the health that the Managers watching them follow.
package feed

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// Fanout tells changes to subscribers and health to watchers. It starts
// healthy. Its zero value is not usable: call New.
type Fanout struct {
	mu     sync.Mutex
	nextID int
	subs   map[int]func(string)

	healthMu sync.Mutex // held while health changes and is reported
	healthy  bool
	watchers map[int]func(bool)
	outages  atomic.Uint64
}

// New returns a healthy Fanout without subscribers.
func New() *Fanout {
	return &Fanout{subs: map[int]func(string){}, watchers: map[int]func(bool){}, healthy: true}
}

// Subscribe calls fn for each dispatched key ID until unsubscribe.
func (f *Fanout) Subscribe(fn func(keyID string)) (unsubscribe func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.id()
	f.subs[id] = fn
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, id)
	}
}

// id is a fresh registration number; f.mu is held.
func (f *Fanout) id() int {
	id := f.nextID
	f.nextID++
	return id
}

// Dispatch tells every subscriber that each of ids changed.
func (f *Fanout) Dispatch(ids ...string) {
	if len(ids) == 0 {
		return
	}
	f.mu.Lock()
	fns := slices.Collect(maps.Values(f.subs))
	f.mu.Unlock()
	for _, id := range ids {
		for _, fn := range fns {
			fn(id)
		}
	}
}

// WatchHealth calls fn with each change of health until stop, and at once
// with false when the feed is unhealthy now.
func (f *Fanout) WatchHealth(fn func(healthy bool)) (stop func()) {
	f.healthMu.Lock()
	defer f.healthMu.Unlock()
	f.mu.Lock()
	id := f.id()
	f.mu.Unlock()
	f.watchers[id] = fn
	if !f.healthy {
		fn(false)
	}
	return func() {
		f.healthMu.Lock()
		defer f.healthMu.Unlock()
		delete(f.watchers, id)
	}
}

// SetHealth records the feed's health: healthy when err is nil. On a
// change it calls changed (to log it), then tells the watchers, then counts
// an outage: whoever sees the count sees the Managers already bypassing
// their caches.
func (f *Fanout) SetHealth(err error, changed func(err error)) {
	f.healthMu.Lock()
	defer f.healthMu.Unlock()
	healthy := err == nil
	if healthy == f.healthy {
		return
	}
	f.healthy = healthy
	changed(err)
	for _, fn := range f.watchers {
		fn(healthy)
	}
	if !healthy {
		f.outages.Add(1)
	}
}

// Outages counts the times the feed became unhealthy.
func (f *Fanout) Outages() uint64 { return f.outages.Load() }
