package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/internal/feed"
)

// Poller is an apikey.Invalidator over the store's change feed (schema
// version 4): it reads {p}key_changes every interval and evicts the keys
// recorded there from every subscribed Manager. The rows are written by
// triggers on {p}api_keys, so every change reaches every instance —
// whether a Manager, the admin handler, the CLI or an operator's SQL made
// it — within about one interval, with no other service than the database.
// Usage counts and quota spending write no rows.
//
// If a poll fails the Poller reports itself unhealthy (see
// apikey.InvalidatorHealth): Managers verify every key against the store
// until a poll succeeds, which reads every change since the last good one.
// A change committed by a transaction that took longer than the gap wait
// (10 s) between taking its sequence number and committing may be missed
// by a poller that already read past it; the Managers' staleness bound
// still holds for it.
//
// Close it after the Managers using it.
type Poller struct {
	s        *Store
	interval time.Duration
	timeout  time.Duration
	retain   time.Duration
	logger   *slog.Logger
	next     string // changes after a sequence number
	prune    string

	fanout *feed.Fanout // subscribers and health

	// Owned by the poll loop.
	cursor  int64               // highest sequence number read
	pending map[int64]time.Time // numbers below cursor not read yet: transactions still open, or rolled back
	polls   int

	stop, done chan struct{}
	closeOnce  sync.Once
}

var (
	_ apikey.Invalidator       = (*Poller)(nil)
	_ apikey.InvalidatorHealth = (*Poller)(nil)
)

// PollerOption configures a Poller.
type PollerOption func(*Poller)

// DefaultPollInterval is how often, by default, a Poller reads the change
// feed: a change reaches every instance within about this long.
const DefaultPollInterval = 250 * time.Millisecond

// WithPollInterval sets how often the Poller reads the change feed
// (default DefaultPollInterval). Each read is one indexed query.
func WithPollInterval(d time.Duration) PollerOption { return func(p *Poller) { p.interval = d } }

// WithPollTimeout bounds each read (default 1 s); a read that takes longer
// counts as failed.
func WithPollTimeout(d time.Duration) PollerOption { return func(p *Poller) { p.timeout = d } }

// WithPollLogger sets where the Poller logs failed and recovered polls
// (default: nowhere).
func WithPollLogger(l *slog.Logger) PollerOption { return func(p *Poller) { p.logger = l } }

// WithChangeRetention sets how long rows of the change feed are kept
// (default 1 h); every Poller deletes older ones now and then, except the
// newest.
func WithChangeRetention(d time.Duration) PollerOption { return func(p *Poller) { p.retain = d } }

// gapWait is how long a missing sequence number is looked for.
const gapWait = 10 * time.Second

// pollBatch is the most rows one query reads.
const pollBatch = 1000

// NewPoller starts a Poller on s, from the newest change in the feed. The
// schema must be at version 4 (Migrate).
func NewPoller(ctx context.Context, s *Store, opts ...PollerOption) (*Poller, error) {
	if s == nil {
		return nil, errors.New("sqlstore: NewPoller: store must not be nil")
	}
	p := &Poller{s: s, interval: DefaultPollInterval, timeout: time.Second, retain: time.Hour,
		logger: slog.New(slog.DiscardHandler), fanout: feed.New(),
		pending: map[int64]time.Time{}}
	for _, opt := range opts {
		opt(p)
	}
	switch {
	case p.interval <= 0 || p.timeout <= 0 || p.retain <= 0:
		return nil, errors.New("sqlstore: NewPoller: interval, timeout and retention must be positive")
	case p.logger == nil:
		return nil, errors.New("sqlstore: NewPoller: logger must not be nil")
	}
	t := s.prefix + "key_changes"
	p.next = s.dialect.rebind("SELECT seq, key_id FROM " + t + " WHERE seq > ? ORDER BY seq LIMIT " + fmt.Sprint(pollBatch))
	p.prune = s.dialect.rebind("DELETE FROM " + t + " WHERE changed_at < ? AND seq < ?")
	var newest int64
	if err := s.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(seq), 0) FROM "+t).Scan(&newest); err != nil {
		return nil, fmt.Errorf("sqlstore: NewPoller: reading the change feed (is the schema at version 4?): %w", err)
	}
	// Numbers just below the newest that are missing may belong to
	// transactions still open: read the last batch once, to look for them.
	p.cursor = max(0, newest-pollBatch)
	if _, _, err := p.read(ctx, p.cursor, time.Now()); err != nil {
		return nil, fmt.Errorf("sqlstore: NewPoller: reading the change feed: %w", err)
	}
	p.cursor = max(p.cursor, newest)
	p.stop, p.done = make(chan struct{}), make(chan struct{})
	go p.loop()
	return p, nil
}

// Publish implements apikey.Invalidator. The triggers record every change
// for the other instances; Publish only tells this process's subscribers
// at once.
func (p *Poller) Publish(_ context.Context, keyID string) error {
	p.fanout.Dispatch(keyID)
	return nil
}

// Subscribe implements apikey.Invalidator.
func (p *Poller) Subscribe(fn func(keyID string)) (unsubscribe func()) {
	return p.fanout.Subscribe(fn)
}

// WatchHealth implements apikey.InvalidatorHealth: unhealthy from a failed
// poll until the next good one.
func (p *Poller) WatchHealth(fn func(healthy bool)) (stop func()) {
	return p.fanout.WatchHealth(fn)
}

// Outages counts the times the feed became unhealthy.
func (p *Poller) Outages() uint64 { return p.fanout.Outages() }

// Close stops polling. Calling it again does nothing.
func (p *Poller) Close() error {
	p.closeOnce.Do(func() {
		close(p.stop)
		<-p.done
	})
	return nil
}

func (p *Poller) loop() {
	defer close(p.done)
	ticker := time.NewTicker(p.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			err := p.poll()
			p.setHealth(err)
		case <-p.stop:
			return
		}
	}
}

// poll reads every change after the cursor (and the numbers still
// missing below it) and evicts the keys.
func (p *Poller) poll() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.timeout)
	defer cancel()
	now := time.Now()
	for {
		from := p.cursor
		if len(p.pending) > 0 {
			from = min(from, slices.Min(slices.Collect(maps.Keys(p.pending)))-1)
		}
		ids, n, err := p.read(ctx, from, now)
		if err != nil {
			return err
		}
		p.fanout.Dispatch(ids...)
		if n < pollBatch {
			break
		}
	}
	maps.DeleteFunc(p.pending, func(_ int64, seen time.Time) bool { return now.Sub(seen) > gapWait })
	if p.polls++; p.polls%max(1, int(time.Minute/p.interval)) == 0 {
		cutoff := now.Add(-p.retain).Unix()
		if _, err := p.s.exec(ctx, p.prune, cutoff, p.cursor); err != nil {
			p.logger.LogAttrs(ctx, slog.LevelWarn, "apikey/sqlstore: pruning the change feed failed", slog.String("error", err.Error()))
		}
	}
	return nil
}

// read reads one batch of changes after from, advancing the cursor.
func (p *Poller) read(ctx context.Context, from int64, now time.Time) (ids []string, n int, err error) {
	rows, err := p.s.db.QueryContext(ctx, p.next, from)
	if err != nil {
		return nil, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var seq int64
		var id []byte
		if err := rows.Scan(&seq, &id); err != nil {
			return nil, n, err
		}
		n++
		switch {
		case seq > p.cursor:
			// Numbers skipped are transactions that may still commit.
			for g := max(p.cursor+1, seq-pollBatch); g < seq; g++ {
				p.pending[g] = now
			}
			p.cursor = seq
		case p.pending[seq].IsZero():
			continue // read before
		default:
			delete(p.pending, seq)
		}
		ids = append(ids, string(id))
	}
	return ids, n, rows.Err()
}

// setHealth records the feed's health (err nil: healthy), logging a change.
func (p *Poller) setHealth(err error) {
	p.fanout.SetHealth(err, func(err error) {
		if err == nil {
			p.logger.LogAttrs(context.Background(), slog.LevelInfo, "apikey/sqlstore: change feed read again; caught up")
			return
		}
		p.logger.LogAttrs(context.Background(), slog.LevelWarn,
			"apikey/sqlstore: reading the change feed failed; Managers verify against the store until it is read again",
			slog.String("error", err.Error()))
	})
}
