// Package sqlstore is an apikey.Store over database/sql, for PostgreSQL,
// MySQL/MariaDB and SQLite. It imports no driver: open the *sql.DB with the
// driver of your choice and name its Dialect.
//
//	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL")) // github.com/jackc/pgx/v5/stdlib
//	s, err := sqlstore.New(db, sqlstore.Postgres)
//	err = s.Migrate(ctx) // or apply sqlstore.DDL(sqlstore.Postgres) with your own tool
//	m, err := apikey.New(s)
//
// # Schema
//
// Migrate applies versioned migrations embedded in the binary and records
// them in a schema_migrations table. It is idempotent and safe when several
// instances start at once: it holds pg_advisory_xact_lock on PostgreSQL,
// GET_LOCK on MySQL and a write transaction (BEGIN IMMEDIATE) on SQLite.
// Version 1 creates the api_keys table, version 2 the audit_events table
// (see AppendAudit), version 3 the rate-limit and quota columns of
// api_keys, version 4 the change feed (see Poller); later versions are
// appended, never edited. DDL returns the same statements for teams that
// run their own migration tool.
//
// Encodings, chosen so that every string round-trips verbatim (NUL, quotes,
// any UTF-8) and compares byte for byte, exactly as Go compares strings:
//   - id, name, owner_id and the rotation links are binary columns (BYTEA,
//     VARBINARY/BLOB, BLOB): PostgreSQL text cannot hold NUL, and MySQL's
//     text collations are case-insensitive or pad trailing spaces.
//   - The digest is BYTEA / BINARY(32) / BLOB with a unique index.
//   - scopes and metadata are JSON text (JSON escapes NUL as \u0000, so
//     plain TEXT holds it; JSONB would not). Empty metadata is NULL.
//   - Times are BIGINT microseconds since the Unix epoch, UTC; a zero time
//     (never expires, not revoked, never used) is NULL.
//
// Keys are listed by (owner_id, id) with keyset pagination on an index of
// those columns.
//
// # Usage counts
//
// AddUsage writes a batch in one statement (UPDATE … FROM on PostgreSQL and
// SQLite, UPDATE … JOIN on MySQL), in chunks of a few hundred keys inside one
// transaction. The Manager writes usage behind verification, so a crash
// loses at most one flush interval of counts and last-use times; keys
// themselves are written before Create returns.
//
// # SQLite
//
// SQLite allows one writer at a time: the Store serializes its own writes,
// and callers should open the database with a busy timeout and
// _txlock=immediate (store/sqlitestore does all of this). An in-memory
// SQLite database is per connection: use a file.
package sqlstore
