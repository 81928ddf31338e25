package apikey

import (
	"context"
	"sync"
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

// LocalInvalidator is an Invalidator within one process, for several
// Managers over one store (and for tests). For several processes use a
// network one, such as the Redis invalidator.
type LocalInvalidator struct {
	mu   sync.Mutex
	next int
	subs map[int]func(string)
}

// NewLocalInvalidator returns an in-process Invalidator.
func NewLocalInvalidator() *LocalInvalidator {
	return &LocalInvalidator{subs: map[int]func(string){}}
}

// Publish implements Invalidator.
func (l *LocalInvalidator) Publish(ctx context.Context, keyID string) error {
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
func (l *LocalInvalidator) Subscribe(fn func(string)) func() {
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
