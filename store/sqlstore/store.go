package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/keyward/apikey"
)

var _ apikey.Store = (*Store)(nil)

// Store is an apikey.Store over a *sql.DB. It is safe for concurrent use.
// Records it returns are decoded from the database on each call, so no two
// callers share one.
type Store struct {
	db      *sql.DB
	dialect Dialect
	prefix  string
	q       queries

	// byDigest is the verify path's statement, prepared on first use (the
	// table may not exist before Migrate).
	byDigest lazyStmt

	// writeMu serializes this Store's writes on SQLite, which allows one
	// writer at a time: waiting here is cheaper than SQLITE_BUSY retries.
	// Unused on other dialects.
	writeMu sync.Mutex
}

// queries are the fixed statements, with the table prefix and the
// dialect's placeholders applied once.
type queries struct {
	table    string
	insert   string
	byID     string
	byDigest string
	revoke   string
	rotate   string
	rehash   string
	// drainQuota empties a key's quota: its budget moved to a successor.
	drainQuota string
	// consumeQuota and refundQuota change the budget of a key that is
	// live, metered and not rotated (see quota.go); rotatedTo reads a link
	// of a rotation chain.
	consumeQuota, refundQuota, rotatedTo string
	// appendAudit inserts an audit event; selectAudit is ListAudit's
	// statement before the filters it is given.
	appendAudit, selectAudit string
}

// New returns a Store over db, whose driver speaks dialect. It does not
// create the schema: call Migrate, or apply DDL(dialect) yourself. The
// caller keeps db and closes it after Close.
func New(db *sql.DB, dialect Dialect, opts ...Option) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: db must not be nil")
	}
	if !dialect.valid() {
		return nil, errUnknownDialect(dialect)
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	s := &Store{db: db, dialect: dialect, prefix: c.prefix}
	t := c.prefix + "api_keys"
	live := " WHERE id = ? AND revoked_at IS NULL"
	s.q = queries{
		table:    t,
		insert:   "INSERT INTO " + t + " (" + columns + ") VALUES (" + placeholders(numColumns) + ")",
		byID:     "SELECT " + columns + " FROM " + t + " WHERE id = ?",
		byDigest: "SELECT " + columns + " FROM " + t + " WHERE digest = ?",
		revoke:   "UPDATE " + t + " SET revoked_at = ?" + live,
		rotate: "UPDATE " + t + " SET rotated_to_id = ?, " +
			"expires_at = CASE WHEN expires_at IS NULL OR expires_at > ? THEN ? ELSE expires_at END" +
			live + " AND rotated_to_id IS NULL",
		rehash:     "UPDATE " + t + " SET digest = ?, digest_scheme = ?" + live + " AND digest = ?",
		drainQuota: "UPDATE " + t + " SET quota_remaining = 0 WHERE id = ?",
		consumeQuota: "UPDATE " + t + " SET quota_remaining = " + refilledQuota + " - ?, " +
			"quota_period_start = CASE WHEN quota_refill <> '' AND quota_period_start < ? THEN ? ELSE quota_period_start END" +
			live + " AND rotated_to_id IS NULL AND quota_limit IS NOT NULL AND " + refilledQuota + " >= ?",
		refundQuota: "UPDATE " + t + " SET quota_remaining = " +
			"CASE WHEN quota_remaining + ? > quota_limit THEN quota_limit ELSE quota_remaining + ? END" +
			live + " AND rotated_to_id IS NULL AND quota_limit IS NOT NULL AND quota_period_start = ?",
		rotatedTo:   "SELECT rotated_to_id FROM " + t + " WHERE id = ?",
		selectAudit: "SELECT " + auditColumns + " FROM " + c.prefix + "audit_events",
		appendAudit: "INSERT INTO " + c.prefix + "audit_events (" + auditColumns + ") VALUES (" + placeholders(12) + ")",
	}
	for _, q := range []*string{&s.q.insert, &s.q.byID, &s.q.byDigest, &s.q.revoke, &s.q.rotate, &s.q.rehash,
		&s.q.drainQuota, &s.q.consumeQuota, &s.q.refundQuota, &s.q.rotatedTo, &s.q.appendAudit} {
		*q = dialect.rebind(*q)
	}
	s.byDigest.query = s.q.byDigest
	return s, nil
}

// Dialect returns the dialect the Store was made with.
func (s *Store) Dialect() Dialect { return s.dialect }

// DB returns the database the Store works on.
func (s *Store) DB() *sql.DB { return s.db }

// Close releases the Store's prepared statements. It does not close the
// *sql.DB, which belongs to the caller.
func (s *Store) Close() error { return s.byDigest.close() }

// placeholders returns "?, ?, …" with n placeholders.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// lazyStmt is a statement prepared on first successful use. Loading it
// takes no lock.
type lazyStmt struct {
	query string
	mu    sync.Mutex // serializes preparing
	stmt  atomic.Pointer[sql.Stmt]
}

func (l *lazyStmt) get(ctx context.Context, db *sql.DB) (*sql.Stmt, error) {
	if st := l.stmt.Load(); st != nil {
		return st, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if st := l.stmt.Load(); st != nil {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, l.query)
	if err != nil {
		return nil, err
	}
	l.stmt.Store(st)
	return st, nil
}

func (l *lazyStmt) close() error {
	if st := l.stmt.Swap(nil); st != nil {
		return st.Close()
	}
	return nil
}

// lockWrites serializes writes on SQLite; the returned function unlocks.
func (s *Store) lockWrites() func() {
	if s.dialect != SQLite {
		return func() {}
	}
	s.writeMu.Lock()
	return s.writeMu.Unlock
}

// exec runs one statement outside a transaction.
func (s *Store) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	defer s.lockWrites()()
	return s.db.ExecContext(ctx, query, args...)
}

// inTx runs fn in a transaction, committed if fn returns nil.
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx) error) error {
	defer s.lockWrites()()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// mapErr maps a driver error: no rows is ErrNotFound, a violated unique
// index ErrConflict; everything else is returned as it is.
func (s *Store) mapErr(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, sql.ErrNoRows):
		return apikey.ErrNotFound
	case errors.Is(err, apikey.ErrNotFound), errors.Is(err, apikey.ErrConflict), errors.Is(err, apikey.ErrQuotaExceeded):
		return err
	case s.dialect.isUniqueViolation(err):
		return fmt.Errorf("sqlstore: %s: %w: %w", op, apikey.ErrConflict, err)
	}
	return fmt.Errorf("sqlstore: %s: %w", op, err)
}
