// Package cowmap provides a copy-on-write map for read-mostly data. A read
// is one atomic load and a map lookup: no lock and no write to shared
// memory, so reads on many cores do not contend. A write copies the map, so
// callers shard large maps to keep writes cheap.
package cowmap

import (
	"maps"
	"sync"
	"sync/atomic"
)

// Map is a copy-on-write map. The zero value is an empty map ready to use.
// Values should be pointers to immutable data or to atomics.
type Map[K comparable, V any] struct {
	mu sync.Mutex // serializes writers
	p  atomic.Pointer[map[K]V]
}

// Load returns the value for k.
func (m *Map[K, V]) Load(k K) (v V, ok bool) {
	if p := m.p.Load(); p != nil {
		v, ok = (*p)[k]
	}
	return v, ok
}

// Update lets fn change a copy of the map, then publishes the copy. Readers
// see the map before or after fn, never during.
func (m *Map[K, V]) Update(fn func(map[K]V)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var next map[K]V
	if p := m.p.Load(); p != nil {
		next = maps.Clone(*p)
	} else {
		next = make(map[K]V)
	}
	fn(next)
	m.p.Store(&next)
}

// Snapshot returns the current map. It must not be modified.
func (m *Map[K, V]) Snapshot() map[K]V {
	if p := m.p.Load(); p != nil {
		return *p
	}
	return nil
}
