package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keyward/apikey"
)

// DefaultChannel is the default pub/sub channel of an Invalidator.
const DefaultChannel = "apikey:invalidate"

// DefaultSubscribeTimeout is how long Subscribe waits, by default, for
// Redis to confirm the subscription.
const DefaultSubscribeTimeout = 5 * time.Second

// DefaultPublishTimeout is how long, by default, Publish waits for Redis.
const DefaultPublishTimeout = time.Second

// Invalidator is an apikey.Invalidator over Redis pub/sub: Publish sends a
// key ID on the channel, and every subscribed Manager, in this process or
// another, evicts that key from its cache. One Invalidator holds at most
// one subscription connection, shared by its subscribers. Close it when the
// Managers using it are closed.
type Invalidator struct {
	client  goredis.UniversalClient
	channel string
	logger  *slog.Logger
	timeout time.Duration
	publish time.Duration

	mu     sync.Mutex
	next   int
	subs   map[int]func(string)
	ps     *goredis.PubSub // nil until the first Subscribe
	done   chan struct{}   // closed when the receive loop ends
	closed bool
}

var _ apikey.Invalidator = (*Invalidator)(nil)

// InvalidatorOption configures an Invalidator.
type InvalidatorOption func(*invalidatorConfig)

type invalidatorConfig struct {
	channel string
	logger  *slog.Logger
	timeout time.Duration
	publish time.Duration
}

// WithChannel sets the pub/sub channel (default DefaultChannel). Every
// instance over one store must use the same one.
func WithChannel(name string) InvalidatorOption {
	return func(c *invalidatorConfig) { c.channel = name }
}

// WithLogger sets where the Invalidator logs lost and restored
// subscriptions (default: nowhere).
func WithLogger(l *slog.Logger) InvalidatorOption {
	return func(c *invalidatorConfig) { c.logger = l }
}

// WithSubscribeTimeout sets how long Subscribe waits for Redis to confirm
// the subscription (default DefaultSubscribeTimeout). If Redis does not
// answer in time, Subscribe returns anyway and the subscription is made
// when Redis is back.
func WithSubscribeTimeout(d time.Duration) InvalidatorOption {
	return func(c *invalidatorConfig) { c.timeout = d }
}

// WithPublishTimeout bounds each Publish (default DefaultPublishTimeout),
// which runs inside Revoke, Rotate and Update: a stalled Redis delays them
// by at most d (the eviction is then lost, and other instances see the
// change within their cache's staleness bound). The bound holds whatever
// the client, also one built without ContextTimeoutEnabled.
func WithPublishTimeout(d time.Duration) InvalidatorOption {
	return func(c *invalidatorConfig) { c.publish = d }
}

// NewInvalidator returns an Invalidator on client. It does not contact
// Redis; the first Subscribe does.
func NewInvalidator(client goredis.UniversalClient, opts ...InvalidatorOption) (*Invalidator, error) {
	if client == nil {
		return nil, errors.New("apikey/redis: NewInvalidator: client must not be nil")
	}
	c := invalidatorConfig{channel: DefaultChannel, logger: slog.New(slog.DiscardHandler), timeout: DefaultSubscribeTimeout,
		publish: DefaultPublishTimeout}
	for _, opt := range opts {
		opt(&c)
	}
	switch {
	case c.channel == "":
		return nil, errors.New("apikey/redis: NewInvalidator: channel must not be empty")
	case c.logger == nil:
		return nil, errors.New("apikey/redis: NewInvalidator: logger must not be nil")
	case c.timeout <= 0:
		return nil, errors.New("apikey/redis: NewInvalidator: subscribe timeout must be positive")
	case c.publish <= 0:
		return nil, errors.New("apikey/redis: NewInvalidator: publish timeout must be positive")
	}
	return &Invalidator{client: client, channel: c.channel, logger: c.logger, timeout: c.timeout,
		publish: c.publish, subs: map[int]func(string){}}, nil
}

// Publish implements apikey.Invalidator.
func (inv *Invalidator) Publish(ctx context.Context, keyID string) error {
	err := bounded(ctx, inv.publish, func(ctx context.Context) error {
		return inv.client.Publish(ctx, inv.channel, keyID).Err()
	})
	if err != nil {
		return fmt.Errorf("apikey/redis: publishing an eviction: %w", err)
	}
	return nil
}

// Subscribe implements apikey.Invalidator. The first call subscribes to
// the channel and waits (up to the subscribe timeout) for Redis to confirm,
// so that every eviction published after Subscribe returns reaches fn.
// After Close it does nothing.
func (inv *Invalidator) Subscribe(fn func(keyID string)) (unsubscribe func()) {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	if inv.closed {
		return func() {}
	}
	id := inv.next
	inv.next++
	inv.subs[id] = fn
	if inv.ps == nil {
		inv.start()
	}
	return func() {
		inv.mu.Lock()
		defer inv.mu.Unlock()
		delete(inv.subs, id)
	}
}

// start subscribes and starts the receive loop. inv.mu is held.
func (inv *Invalidator) start() {
	ctx, cancel := context.WithTimeout(context.Background(), inv.timeout)
	defer cancel()
	inv.ps = inv.client.Subscribe(ctx, inv.channel)
	// The first reply on the connection confirms the subscription.
	if _, err := inv.ps.Receive(ctx); err != nil {
		inv.logger.LogAttrs(ctx, slog.LevelWarn,
			"apikey/redis: subscribing to evictions failed; retrying in the background, meanwhile caches are only bounded by their staleness",
			slog.String("channel", inv.channel), slog.String("error", err.Error()))
	}
	inv.done = make(chan struct{})
	go inv.loop(inv.ps.ChannelWithSubscriptions(), inv.done)
}

// loop dispatches published key IDs until the PubSub is closed.
func (inv *Invalidator) loop(ch <-chan any, done chan struct{}) {
	defer close(done)
	var fns []func(string)
	for m := range ch {
		switch m := m.(type) {
		case *goredis.Message:
			inv.mu.Lock()
			fns = fns[:0]
			for _, fn := range inv.subs {
				fns = append(fns, fn)
			}
			inv.mu.Unlock()
			for _, fn := range fns {
				fn(m.Payload)
			}
		case *goredis.Subscription:
			// go-redis resubscribed after losing the connection.
			inv.logger.LogAttrs(context.Background(), slog.LevelWarn,
				"apikey/redis: resubscribed to evictions; evictions published while disconnected were missed",
				slog.String("channel", inv.channel), slog.String("kind", m.Kind))
		}
	}
}

// Close ends the subscription and waits for the receive loop to stop. It
// does not close the client. Calling it again does nothing.
func (inv *Invalidator) Close() error {
	inv.mu.Lock()
	if inv.closed {
		inv.mu.Unlock()
		return nil
	}
	inv.closed = true
	ps, done := inv.ps, inv.done
	inv.mu.Unlock()
	if ps == nil {
		return nil
	}
	err := ps.Close()
	<-done
	return err
}
