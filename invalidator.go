package apikey

import (
	"context"
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
