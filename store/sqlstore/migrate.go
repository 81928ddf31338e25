package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"
)

// Migrate brings the schema up to the newest version this package knows,
// applying each missing migration in order and recording it in
// {prefix}schema_migrations. It is idempotent, and safe when several
// instances run it at once: they take turns under a lock
// (pg_advisory_xact_lock on PostgreSQL, GET_LOCK on MySQL, BEGIN IMMEDIATE
// on SQLite). Versions newer than this package knows, applied by a newer
// release, are left alone.
//
// On PostgreSQL and SQLite all pending migrations apply in one
// transaction. MySQL commits each DDL statement on its own; the statements
// are idempotent, so a failed Migrate can be run again.
func (s *Store) Migrate(ctx context.Context) (err error) {
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	defer conn.Close()
	release, err := s.lockSchema(ctx, conn)
	if err != nil {
		return fmt.Errorf("sqlstore: migrate: taking the migration lock: %w", err)
	}
	defer func() {
		if rerr := release(err == nil); err == nil && rerr != nil {
			err = fmt.Errorf("sqlstore: migrate: %w", rerr)
		}
	}()
	if err := s.applyMigrations(ctx, conn); err != nil {
		return fmt.Errorf("sqlstore: migrate: %w", err)
	}
	return nil
}

// applyMigrations runs on conn, under the migration lock.
func (s *Store) applyMigrations(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, withPrefix(versionTable, s.prefix)); err != nil {
		return err
	}
	applied, err := s.appliedVersions(ctx, conn)
	if err != nil {
		return err
	}
	record := s.dialect.rebind("INSERT INTO " + s.prefix + "schema_migrations (version, applied_at) VALUES (?, ?)")
	for i, stmts := range migrations(s.dialect, s.prefix) {
		version := i + 1
		if applied[version] {
			continue
		}
		for _, stmt := range stmts {
			if _, err := conn.ExecContext(ctx, stmt); err != nil && !(s.dialect == MySQL && duplicateColumn(err)) {
				return fmt.Errorf("version %d: %w", version, err)
			}
		}
		if _, err := conn.ExecContext(ctx, record, version, time.Now().UnixMicro()); err != nil {
			return fmt.Errorf("recording version %d: %w", version, err)
		}
	}
	return nil
}

func (s *Store) appliedVersions(ctx context.Context, conn *sql.Conn) (map[int]bool, error) {
	rows, err := conn.QueryContext(ctx, "SELECT version FROM "+s.prefix+"schema_migrations")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	applied := map[int]bool{}
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		applied[v] = true
	}
	return applied, rows.Err()
}

// lockSchema takes the migration lock on conn. release(commit) ends it,
// committing the migration transaction where there is one (or rolling it
// back when commit is false).
func (s *Store) lockSchema(ctx context.Context, conn *sql.Conn) (release func(commit bool) error, err error) {
	name := "keyward/apikey migrate " + s.prefix
	switch s.dialect {
	case Postgres:
		h := fnv.New64a()
		h.Write([]byte(name))
		return beginLocked(ctx, conn, "BEGIN", "SELECT pg_advisory_xact_lock($1)", int64(h.Sum64()))
	case SQLite:
		return beginLocked(ctx, conn, "BEGIN IMMEDIATE", "")
	case MySQL:
		// GET_LOCK names are server-wide and at most 64 characters.
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, 60)", name).Scan(&got); err != nil {
			return nil, err
		}
		if got.Int64 != 1 {
			return nil, errors.New("GET_LOCK timed out after 60 s")
		}
		return func(bool) error {
			// A fresh context: the lock must be released even when ctx ended.
			_, err := conn.ExecContext(context.Background(), "DO RELEASE_LOCK(?)", name)
			return err
		}, nil
	}
	return nil, errUnknownDialect(s.dialect)
}

// beginLocked starts a transaction on conn with begin, then runs lock (if
// any) with args inside it. Both run as plain statements on conn so that
// every migration statement joins the transaction.
func beginLocked(ctx context.Context, conn *sql.Conn, begin, lock string, args ...any) (func(bool) error, error) {
	if _, err := conn.ExecContext(ctx, begin); err != nil {
		return nil, err
	}
	end := func(commit bool) error {
		stmt := "ROLLBACK"
		if commit {
			stmt = "COMMIT"
		}
		_, err := conn.ExecContext(context.Background(), stmt)
		return err
	}
	if lock != "" {
		if _, err := conn.ExecContext(ctx, lock, args...); err != nil {
			_ = end(false)
			return nil, err
		}
	}
	return end, nil
}

// duplicateColumn reports MySQL error 1060 (ER_DUP_FIELDNAME): an ADD COLUMN
// that an interrupted earlier run already applied.
func duplicateColumn(err error) bool {
	return strings.Contains(err.Error(), "Error 1060") || strings.Contains(err.Error(), "Duplicate column name")
}
