package sqlstore

import (
	"strconv"
	"strings"
)

// The schema: one list of migrations per dialect (see migrations). Version
// n is element n-1: versions are applied in order and recorded in
// {p}schema_migrations. Never
// edit an applied version; append a new one. Versions 2 and 3 are expected
// to be the audit log and quota tables of later issues.
//
// {p} stands for the table prefix (see WithTablePrefix). Every statement is
// idempotent (IF NOT EXISTS), so a migration interrupted on a database
// without transactional DDL (MySQL) can simply be run again.

const postgresKeys = `CREATE TABLE IF NOT EXISTS {p}api_keys (
	id              BYTEA   NOT NULL PRIMARY KEY,
	digest          BYTEA   NOT NULL,
	digest_scheme   TEXT    NOT NULL,
	prefix          TEXT    NOT NULL,
	name            BYTEA   NOT NULL,
	owner_id        BYTEA   NOT NULL,
	environment     TEXT    NOT NULL,
	scopes          TEXT    NOT NULL,
	metadata        TEXT,
	created_at      BIGINT  NOT NULL,
	expires_at      BIGINT,
	revoked_at      BIGINT,
	last_used_at    BIGINT,
	disabled        BOOLEAN NOT NULL DEFAULT FALSE,
	request_count   BIGINT  NOT NULL DEFAULT 0,
	rotated_from_id BYTEA,
	rotated_to_id   BYTEA
)`

const mysqlKeys = `CREATE TABLE IF NOT EXISTS {p}api_keys (
	id              VARBINARY(255) NOT NULL,
	digest          BINARY(32)     NOT NULL,
	digest_scheme   VARCHAR(255)   NOT NULL,
	prefix          VARCHAR(64)    NOT NULL,
	name            BLOB           NOT NULL,
	owner_id        VARBINARY(800) NOT NULL,
	environment     VARCHAR(32)    NOT NULL,
	scopes          MEDIUMTEXT     NOT NULL,
	metadata        MEDIUMTEXT,
	created_at      BIGINT         NOT NULL,
	expires_at      BIGINT,
	revoked_at      BIGINT,
	last_used_at    BIGINT,
	disabled        BOOLEAN        NOT NULL DEFAULT FALSE,
	request_count   BIGINT         NOT NULL DEFAULT 0,
	rotated_from_id VARBINARY(255),
	rotated_to_id   VARBINARY(255),
	PRIMARY KEY (id),
	UNIQUE KEY {p}api_keys_digest (digest),
	KEY {p}api_keys_owner_id (owner_id, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`

const sqliteKeys = `CREATE TABLE IF NOT EXISTS {p}api_keys (
	id              BLOB    NOT NULL PRIMARY KEY,
	digest          BLOB    NOT NULL,
	digest_scheme   TEXT    NOT NULL,
	prefix          TEXT    NOT NULL,
	name            BLOB    NOT NULL,
	owner_id        BLOB    NOT NULL,
	environment     TEXT    NOT NULL,
	scopes          TEXT    NOT NULL,
	metadata        TEXT,
	created_at      INTEGER NOT NULL,
	expires_at      INTEGER,
	revoked_at      INTEGER,
	last_used_at    INTEGER,
	disabled        INTEGER NOT NULL DEFAULT 0,
	request_count   INTEGER NOT NULL DEFAULT 0,
	rotated_from_id BLOB,
	rotated_to_id   BLOB
)`

// The indexes of api_keys on PostgreSQL and SQLite (MySQL declares them in
// the table).
const (
	keysDigestIndex = `CREATE UNIQUE INDEX IF NOT EXISTS {p}api_keys_digest ON {p}api_keys (digest)`
	keysOwnerIndex  = `CREATE INDEX IF NOT EXISTS {p}api_keys_owner_id ON {p}api_keys (owner_id, id)`
)

// versionTable records the applied migrations.
const versionTable = `CREATE TABLE IF NOT EXISTS {p}schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	applied_at BIGINT  NOT NULL
)`

// migrations returns d's migrations, versions 1…n, for prefix.
func migrations(d Dialect, prefix string) [][]string {
	var src [][]string
	switch d {
	case Postgres:
		src = [][]string{
			{postgresKeys, keysDigestIndex, keysOwnerIndex}, // 1
		}
	case MySQL:
		src = [][]string{
			{mysqlKeys}, // 1
		}
	case SQLite:
		src = [][]string{
			{sqliteKeys, keysDigestIndex, keysOwnerIndex}, // 1
		}
	}
	out := make([][]string, 0, len(src))
	for _, stmts := range src {
		m := make([]string, len(stmts))
		for i, s := range stmts {
			m[i] = withPrefix(s, prefix)
		}
		out = append(out, m)
	}
	return out
}

func withPrefix(stmt, prefix string) string { return strings.ReplaceAll(stmt, "{p}", prefix) }

// DDL returns the statements that create the schema on d, each ending with
// a semicolon, for teams that apply migrations with their own tool. The
// options are those of New (WithTablePrefix); invalid options, or an
// unknown dialect, give an empty string. DDL does not include the
// schema_migrations table, which only Migrate uses.
func DDL(d Dialect, opts ...Option) string {
	c, err := newConfig(opts)
	if err != nil || !d.valid() {
		return ""
	}
	var b strings.Builder
	for v, stmts := range migrations(d, c.prefix) {
		b.WriteString("-- version " + strconv.Itoa(v+1) + "\n")
		for _, s := range stmts {
			b.WriteString(s)
			b.WriteString(";\n")
		}
	}
	return b.String()
}
