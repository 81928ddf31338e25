// Package readmap provides a map for read-mostly data whose reads are lock
// free and allocation free, and whose writes cost O(1) amortized however
// large the map grows: the scheme of sync.Map (before Go 1.24), typed, for
// pointer values.
//
// Reads look in an immutable map published through an atomic pointer. New
// keys go to a dirty map under a mutex; the dirty map holds every live key
// and replaces the read map once reads have missed in the read map as many
// times as the dirty map has keys, so its O(n) copy is paid once per n
// misses. Until then, a read of a new key takes the mutex. A copy-on-write
// map, by contrast, copies everything on every insert.
package readmap

import (
	"sync"
	"sync/atomic"
)

// Map maps K to *V. The zero value is an empty map ready to use. Values are
// shared: they should be immutable or hold atomics.
type Map[K comparable, V any] struct {
	read atomic.Pointer[readOnly[K, V]]

	mu sync.Mutex
	// dirty, when not nil, holds every live key: those of read whose slot
	// is not expunged, and new ones. Guarded by mu.
	dirty  map[K]*slot[V]
	misses int
}

type readOnly[K comparable, V any] struct {
	m       map[K]*slot[V]
	amended bool // dirty differs from m: it holds keys m lacks, or lacks deleted ones
}

// slot is shared by the read and the dirty map, so a value stored in it is
// seen by both. A nil value is a deleted key.
type slot[V any] struct {
	p atomic.Pointer[V]
	// expunged: deleted, and left out of dirty, so a Store of its key
	// must put it back there. Guarded by mu.
	expunged bool
}

func (m *Map[K, V]) loadRead() *readOnly[K, V] {
	if r := m.read.Load(); r != nil {
		return r
	}
	return &readOnly[K, V]{}
}

// Load returns the value of k, or nil. It takes no lock when k is in the
// read map, or when no key was added since the last promotion.
func (m *Map[K, V]) Load(k K) *V {
	r := m.loadRead()
	s, ok := r.m[k]
	if !ok && r.amended {
		m.mu.Lock()
		r = m.loadRead()
		if s, ok = r.m[k]; !ok && r.amended {
			s, ok = m.dirty[k]
			m.missLocked()
		}
		m.mu.Unlock()
	}
	if !ok {
		return nil
	}
	return s.p.Load()
}

// missLocked counts a read the read map could not answer, and promotes the
// dirty map once they add up to its size.
func (m *Map[K, V]) missLocked() {
	m.misses++
	if m.misses < len(m.dirty) {
		return
	}
	m.promoteLocked()
}

func (m *Map[K, V]) promoteLocked() {
	m.read.Store(&readOnly[K, V]{m: m.dirty})
	m.dirty = nil
	m.misses = 0
}

// LoadOrStore returns the value of k if there is one, and otherwise stores
// v and returns it. loaded reports which.
func (m *Map[K, V]) LoadOrStore(k K, v *V) (actual *V, loaded bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := m.slotLocked(k)
	if cur := s.p.Load(); cur != nil {
		return cur, true
	}
	s.p.Store(v)
	return v, false
}

// Store sets the value of k.
func (m *Map[K, V]) Store(k K, v *V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.slotLocked(k).p.Store(v)
}

// slotLocked returns the slot of k, live in both maps, adding one if needed.
func (m *Map[K, V]) slotLocked(k K) *slot[V] {
	r := m.loadRead()
	if s, ok := r.m[k]; ok {
		if s.expunged {
			s.expunged = false
			m.dirty[k] = s
		}
		return s
	}
	if s, ok := m.dirty[k]; ok {
		return s
	}
	if !r.amended {
		m.dirtyLocked(r)
		m.read.Store(&readOnly[K, V]{m: r.m, amended: true})
	}
	s := &slot[V]{}
	m.dirty[k] = s
	return s
}

// dirtyLocked starts a dirty map from the read map's live keys: the one
// O(n) copy of a promotion cycle.
func (m *Map[K, V]) dirtyLocked(r *readOnly[K, V]) {
	if m.dirty != nil {
		return
	}
	m.dirty = make(map[K]*slot[V], len(r.m)+1)
	for k, s := range r.m {
		if s.p.Load() == nil {
			s.expunged = true
			continue
		}
		m.dirty[k] = s
	}
}

// Delete removes k. The first Delete after a promotion copies the live
// keys, O(n), as the first new key does.
func (m *Map[K, V]) Delete(k K) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r := m.loadRead()
	s, inRead := r.m[k]
	if d, ok := m.dirty[k]; ok {
		s = d
		delete(m.dirty, k)
		if inRead {
			s.expunged = true
		}
	} else if inRead && m.dirty != nil {
		s.expunged = true
	}
	if s != nil {
		s.p.Store(nil)
	}
	if inRead && m.dirty == nil {
		// Start a dirty map without k (and any other deleted key), so that
		// the next promotion drops them from the read map: otherwise they
		// stay there until a new key is stored.
		m.dirtyLocked(r)
		m.read.Store(&readOnly[K, V]{m: r.m, amended: true})
	}
}

// Range calls fn for each key and value until fn returns false. It sees
// each key present for the whole call once; it may or may not see keys
// stored or deleted meanwhile. fn may call other methods of m.
func (m *Map[K, V]) Range(fn func(K, *V) bool) {
	r := m.loadRead()
	if r.amended {
		m.mu.Lock()
		if r = m.loadRead(); r.amended {
			m.promoteLocked()
			r = m.loadRead()
		}
		m.mu.Unlock()
	}
	for k, s := range r.m {
		if v := s.p.Load(); v != nil && !fn(k, v) {
			return
		}
	}
}

// Len counts the live keys, in O(n).
func (m *Map[K, V]) Len() int {
	n := 0
	m.Range(func(K, *V) bool { n++; return true })
	return n
}
