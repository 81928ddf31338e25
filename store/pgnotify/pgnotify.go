// Package pgnotify is an apikey.Invalidator over PostgreSQL LISTEN/NOTIFY.
//
// The schema of github.com/keyward/apikey/store/sqlstore (version 4) has a
// trigger on api_keys that sends NOTIFY with the ID of every changed key,
// whoever changed it: a Manager, the admin handler, the CLI, an operator's
// SQL. An Invalidator listens on one connection of its own and evicts the
// key from every subscribed Manager, typically within milliseconds of the
// commit:
//
//	cfg, err := pgx.ParseConfig(dsn)
//	inv, err := pgnotify.New(ctx, cfg)
//	m, err := apikey.New(store, apikey.WithInvalidator(inv))
//
// If the connection is lost (or stops answering the heartbeat) the
// Invalidator reports itself unhealthy (apikey.InvalidatorHealth): the
// Managers verify every key against the store until it has listened again,
// then empty their caches, since notifications sent meanwhile are lost.
package pgnotify

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/internal/feed"
)

// Invalidator listens for the change feed's notifications. Close it after
// the Managers using it.
type Invalidator struct {
	cfg       *pgx.ConnConfig
	channel   string
	logger    *slog.Logger
	heartbeat time.Duration

	fanout *feed.Fanout // subscribers and health

	cancel    context.CancelFunc
	done      chan struct{}
	closeOnce sync.Once
}

var _ apikey.Invalidator = (*Invalidator)(nil)

// Option configures an Invalidator.
type Option func(*Invalidator)

// WithTablePrefix listens for the tables of prefix, as given to
// sqlstore.WithTablePrefix (default none).
func WithTablePrefix(prefix string) Option {
	// The channel of sqlstore.ChangeChannel(prefix), which the trigger of
	// schema version 4 notifies.
	return func(inv *Invalidator) { inv.channel = prefix + "api_keys_changed" }
}

// WithLogger sets where the Invalidator logs lost and restored connections
// (default: nowhere).
func WithLogger(l *slog.Logger) Option { return func(inv *Invalidator) { inv.logger = l } }

// WithHeartbeat sets how long the connection may stay silent before it is
// pinged (default 1 s): a connection lost without a reset is noticed
// within about twice this.
func WithHeartbeat(d time.Duration) Option { return func(inv *Invalidator) { inv.heartbeat = d } }

// New connects with cfg and listens. It fails if it cannot; afterwards it
// reconnects by itself.
func New(ctx context.Context, cfg *pgx.ConnConfig, opts ...Option) (*Invalidator, error) {
	if cfg == nil {
		return nil, errors.New("apikey/pgnotify: New: config must not be nil")
	}
	inv := &Invalidator{cfg: cfg.Copy(), channel: "api_keys_changed", logger: slog.New(slog.DiscardHandler),
		heartbeat: time.Second, fanout: feed.New()}
	for _, opt := range opts {
		opt(inv)
	}
	switch {
	case inv.logger == nil:
		return nil, errors.New("apikey/pgnotify: New: logger must not be nil")
	case inv.heartbeat <= 0:
		return nil, errors.New("apikey/pgnotify: New: heartbeat must be positive")
	}
	conn, err := inv.listen(ctx)
	if err != nil {
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	inv.cancel, inv.done = cancel, make(chan struct{})
	go inv.loop(loopCtx, conn)
	return inv, nil
}

// listen connects and runs LISTEN.
func (inv *Invalidator) listen(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, inv.cfg)
	if err != nil {
		return nil, fmt.Errorf("apikey/pgnotify: connecting: %w", err)
	}
	if _, err := conn.Exec(ctx, "LISTEN "+pgx.Identifier{inv.channel}.Sanitize()); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("apikey/pgnotify: LISTEN: %w", err)
	}
	return conn, nil
}

// Publish implements apikey.Invalidator. The trigger notifies every
// instance when the change commits; Publish only tells this process's
// subscribers at once.
func (inv *Invalidator) Publish(_ context.Context, keyID string) error {
	inv.fanout.Dispatch(keyID)
	return nil
}

// Subscribe implements apikey.Invalidator.
func (inv *Invalidator) Subscribe(fn func(keyID string)) (unsubscribe func()) {
	return inv.fanout.Subscribe(fn)
}

// WatchHealth implements apikey.InvalidatorHealth: unhealthy from a lost
// connection until LISTEN runs again on a new one.
func (inv *Invalidator) WatchHealth(fn func(healthy bool)) (stop func()) {
	return inv.fanout.WatchHealth(fn)
}

// Outages counts the times the feed became unhealthy.
func (inv *Invalidator) Outages() uint64 { return inv.fanout.Outages() }

// Close stops listening and closes the connection. Calling it again does
// nothing.
func (inv *Invalidator) Close() error {
	inv.closeOnce.Do(func() {
		inv.cancel()
		<-inv.done
	})
	return nil
}

func (inv *Invalidator) loop(ctx context.Context, conn *pgx.Conn) {
	defer close(inv.done)
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	for {
		err := inv.receive(ctx, conn)
		if ctx.Err() != nil {
			return
		}
		inv.setHealth(err)
		conn.Close(context.Background())
		conn = nil
		for backoff := 50 * time.Millisecond; conn == nil; backoff = min(2*backoff, 2*time.Second) {
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			conn, err = inv.listen(cctx)
			cancel()
			if err != nil && ctx.Err() == nil {
				inv.logger.LogAttrs(ctx, slog.LevelDebug, "apikey/pgnotify: reconnecting failed", slog.String("error", err.Error()))
			}
		}
		inv.setHealth(nil)
	}
}

// receive dispatches notifications until the connection fails, pinging it
// when it has been silent for a heartbeat.
func (inv *Invalidator) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, inv.heartbeat)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			id, derr := hex.DecodeString(n.Payload)
			if derr != nil {
				inv.logger.LogAttrs(ctx, slog.LevelWarn, "apikey/pgnotify: ignoring a notification that is not a hex key ID")
				continue
			}
			inv.fanout.Dispatch(string(id))
		case ctx.Err() != nil:
			return ctx.Err()
		case errors.Is(err, context.DeadlineExceeded) && !conn.IsClosed():
			pctx, cancel := context.WithTimeout(ctx, inv.heartbeat)
			err = conn.Ping(pctx)
			cancel()
			if err != nil {
				return fmt.Errorf("heartbeat: %w", err)
			}
		default:
			return err
		}
	}
}

// setHealth records the feed's health (err nil: healthy), logging a change.
func (inv *Invalidator) setHealth(err error) {
	inv.fanout.SetHealth(err, func(err error) {
		if err == nil {
			inv.logger.LogAttrs(context.Background(), slog.LevelInfo, "apikey/pgnotify: listening again; Managers empty their caches")
			return
		}
		inv.logger.LogAttrs(context.Background(), slog.LevelWarn,
			"apikey/pgnotify: lost the LISTEN connection; Managers verify against the store until it is back",
			slog.String("error", err.Error()))
	})
}
