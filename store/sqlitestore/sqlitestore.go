// Package sqlitestore is the embedded default apikey.Store: one SQLite
// file, through modernc.org/sqlite (pure Go, no cgo). It is sqlstore with
// the SQLite dialect, opened with the settings SQLite needs to serve
// concurrent requests:
//
//	s, err := sqlitestore.Open("keys.db")
//	defer s.Close()
//	m, err := apikey.New(s)
//	defer m.Close() // before s.Close: flushes usage counts
//
// Open sets journal_mode=WAL (readers never block the writer), a busy
// timeout (5 s by default) so that writers from several processes wait for
// each other instead of failing, foreign_keys=ON, _txlock=immediate (write
// transactions take the write lock first, so they cannot deadlock on a lock
// upgrade), and synchronous=FULL, then applies the migrations.
//
// # Durability
//
// With synchronous=FULL (the default) a key is on disk when Create
// returns: it survives a process crash and a power loss. With
// WithSynchronous(SynchronousNormal), WAL commits are not synced one by one:
// a process crash still loses nothing, but a power loss or OS crash can
// lose the last transactions (keys created moments before). Creating keys
// is rare, so FULL costs little; NORMAL makes writes faster where the file
// lives on storage that is backed up or replicated anyway.
//
// Usage counts (RequestCount, LastUsedAt) are written behind by the
// Manager, once per flush interval (10 s by default) and on Manager.Close:
// a crash loses at most the last interval's counts, never a key.
package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/sqlstore"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ apikey.Store = (*Store)(nil)

// Store is an apikey.Store in a SQLite database. The sqlstore methods it
// embeds (Migrate, DB) work on that database.
type Store struct {
	*sqlstore.Store
	owned *sql.DB // the database Open opened, closed by Close; nil after New
}

// Synchronous is SQLite's synchronous setting (PRAGMA synchronous); see the
// package documentation for the durability trade-off.
type Synchronous string

const (
	// SynchronousFull syncs every commit: a created key survives power loss.
	SynchronousFull Synchronous = "FULL"
	// SynchronousNormal syncs at WAL checkpoints: a power loss can lose the
	// last commits; a process crash loses nothing.
	SynchronousNormal Synchronous = "NORMAL"
)

// maxIdleConns is the idle pool of a database Open opened.
const maxIdleConns = 16

// Option configures Open.
type Option func(*config)

type config struct {
	busyTimeout time.Duration
	synchronous Synchronous
}

// WithBusyTimeout sets how long a write waits for another connection's (or
// process's) write to finish before failing with SQLITE_BUSY. Default 5 s.
func WithBusyTimeout(d time.Duration) Option { return func(c *config) { c.busyTimeout = d } }

// WithSynchronous sets PRAGMA synchronous. Default SynchronousFull.
func WithSynchronous(s Synchronous) Option { return func(c *config) { c.synchronous = s } }

// Open opens (creating if needed) the SQLite database at path, configures
// it as described in the package documentation, and migrates its schema.
// Close closes it.
func Open(path string, opts ...Option) (*Store, error) {
	c := config{busyTimeout: 5 * time.Second, synchronous: SynchronousFull}
	for _, opt := range opts {
		opt(&c)
	}
	if path == "" {
		return nil, fmt.Errorf("sqlitestore: path must not be empty")
	}
	if c.synchronous != SynchronousFull && c.synchronous != SynchronousNormal {
		return nil, fmt.Errorf("sqlitestore: synchronous must be FULL or NORMAL, not %q", c.synchronous)
	}
	if c.busyTimeout < 0 {
		return nil, fmt.Errorf("sqlitestore: busy timeout must not be negative")
	}
	db, err := sql.Open("sqlite", dsn(path, c))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	// Opening a connection runs the pragmas: keep some idle ones.
	db.SetMaxIdleConns(maxIdleConns)
	s, err := New(db)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.owned = db
	return s, nil
}

// dsn is a modernc.org/sqlite URI for path with c's settings applied on
// every new connection.
func dsn(path string, c config) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", c.busyTimeout.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous("+string(c.synchronous)+")")
	q.Set("_txlock", "immediate")
	// A file: URI, so that a path with ? or # in it stays one file name.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?" + q.Encode()
}

// New returns a Store over a SQLite database the caller opened with
// modernc.org/sqlite (or another SQLite driver), and migrates its schema.
// Configure db as Open does (WAL, busy_timeout, _txlock=immediate); the
// caller keeps db and closes it after Close.
func New(db *sql.DB) (*Store, error) {
	inner, err := sqlstore.New(db, sqlstore.SQLite)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	if err := inner.Migrate(context.Background()); err != nil {
		return nil, fmt.Errorf("sqlitestore: %w", err)
	}
	return &Store{Store: inner}, nil
}

// Close releases the Store and closes the database if Open opened it.
func (s *Store) Close() error {
	err := s.Store.Close()
	if s.owned != nil {
		if cerr := s.owned.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
