package sqlstore

import (
	"strconv"
	"strings"
)

// The schema: one list of migrations per dialect (see migrations). Version
// n is element n-1: versions are applied in order and recorded in
// {p}schema_migrations. Never edit an applied version; append a new one.
// Version 1 is the api_keys table, version 2 the audit log (audit_events),
// version 3 the rate-limit and quota columns of api_keys, version 4 the
// change feed (key_changes and its triggers, see changes_schema.go).
//
// {p} stands for the table prefix (see WithTablePrefix). Every statement is
// idempotent (IF NOT EXISTS), so a migration interrupted on a database
// without transactional DDL (MySQL) can simply be run again.

// column is a column of a table with its type on each dialect.
type column struct{ name, postgres, mysql, sqlite string }

// keysColumnsV1 are the columns of api_keys as version 1 creates them.
func keysColumnsV1() []column {
	return []column{
		{"id", "BYTEA NOT NULL PRIMARY KEY", "VARBINARY(255) NOT NULL PRIMARY KEY", "BLOB NOT NULL PRIMARY KEY"},
		{"digest", "BYTEA NOT NULL", "BINARY(32) NOT NULL", "BLOB NOT NULL"},
		{"digest_scheme", "TEXT NOT NULL", "VARCHAR(255) NOT NULL", "TEXT NOT NULL"},
		{"prefix", "TEXT NOT NULL", "VARCHAR(64) NOT NULL", "TEXT NOT NULL"},
		{"name", "BYTEA NOT NULL", "BLOB NOT NULL", "BLOB NOT NULL"},
		{"owner_id", "BYTEA NOT NULL", "VARBINARY(800) NOT NULL", "BLOB NOT NULL"},
		{"environment", "TEXT NOT NULL", "VARCHAR(32) NOT NULL", "TEXT NOT NULL"},
		{"scopes", "TEXT NOT NULL", "MEDIUMTEXT NOT NULL", "TEXT NOT NULL"},
		{"metadata", "TEXT", "MEDIUMTEXT", "TEXT"},
		{"created_at", "BIGINT NOT NULL", "BIGINT NOT NULL", "INTEGER NOT NULL"},
		{"expires_at", "BIGINT", "BIGINT", "INTEGER"},
		{"revoked_at", "BIGINT", "BIGINT", "INTEGER"},
		{"last_used_at", "BIGINT", "BIGINT", "INTEGER"},
		{"disabled", "BOOLEAN NOT NULL DEFAULT FALSE", "BOOLEAN NOT NULL DEFAULT FALSE", "INTEGER NOT NULL DEFAULT 0"},
		{"request_count", "BIGINT NOT NULL DEFAULT 0", "BIGINT NOT NULL DEFAULT 0", "INTEGER NOT NULL DEFAULT 0"},
		{"rotated_from_id", "BYTEA", "VARBINARY(255)", "BLOB"},
		{"rotated_to_id", "BYTEA", "VARBINARY(255)", "BLOB"},
	}
}

// keysColumnsV3 hold a key's rate limit and quota. A NULL quota_limit
// means no quota; periods are in microseconds.
func keysColumnsV3() []column {
	const bigint0 = "BIGINT NOT NULL DEFAULT 0"
	return []column{
		{"plan", "TEXT NOT NULL DEFAULT ''", "VARCHAR(255) NOT NULL DEFAULT ''", "TEXT NOT NULL DEFAULT ''"},
		{"rate_limit_requests", bigint0, bigint0, "INTEGER NOT NULL DEFAULT 0"},
		{"rate_limit_period", bigint0, bigint0, "INTEGER NOT NULL DEFAULT 0"},
		{"rate_limit_burst", bigint0, bigint0, "INTEGER NOT NULL DEFAULT 0"},
		{"quota_limit", "BIGINT", "BIGINT", "INTEGER"},
		{"quota_remaining", bigint0, bigint0, "INTEGER NOT NULL DEFAULT 0"},
		{"quota_refill", "TEXT NOT NULL DEFAULT ''", "VARCHAR(16) NOT NULL DEFAULT ''", "TEXT NOT NULL DEFAULT ''"},
		{"quota_period_start", bigint0, bigint0, "INTEGER NOT NULL DEFAULT 0"},
	}
}

// addColumns returns the statements adding cols to {p}<table>. PostgreSQL
// skips columns that exist; SQLite adds one column per statement, inside
// the migration's transaction; MySQL adds all in one atomic statement, and
// Migrate treats "duplicate column" as done when it runs again.
func addColumns(d Dialect, table string, cols []column) []string {
	var stmts []string
	var b strings.Builder
	for i, c := range cols {
		switch d {
		case Postgres:
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n\tADD COLUMN IF NOT EXISTS " + c.name + " " + c.postgres)
		case MySQL:
			if i > 0 {
				b.WriteString(",")
			}
			b.WriteString("\n\tADD COLUMN " + c.name + " " + c.mysql)
		default:
			stmts = append(stmts, "ALTER TABLE {p}"+table+" ADD COLUMN "+c.name+" "+c.sqlite)
		}
	}
	if b.Len() > 0 {
		stmts = append(stmts, "ALTER TABLE {p}"+table+b.String())
	}
	return stmts
}

// index is an index of a table.
type index struct {
	name    string // without the table prefix
	unique  bool
	columns string // "a, b"
}

// keysIndexesV1: the verify path's unique digest, and listing by owner in
// id order (keyset pagination).
func keysIndexesV1() []index {
	return []index{
		{"api_keys_digest", true, "digest"},
		{"api_keys_owner_id", false, "owner_id, id"},
	}
}

// auditColumnsV2 are the columns of audit_events as version 2 creates
// them. Strings the host or a client chooses are binary, as in api_keys.
func auditColumnsV2() []column {
	return []column{
		{"id", "BYTEA NOT NULL PRIMARY KEY", "VARBINARY(255) NOT NULL PRIMARY KEY", "BLOB NOT NULL PRIMARY KEY"},
		{"time", "BIGINT NOT NULL", "BIGINT NOT NULL", "INTEGER NOT NULL"},
		{"action", "TEXT NOT NULL", "VARCHAR(64) NOT NULL", "TEXT NOT NULL"},
		{"outcome", "TEXT NOT NULL", "VARCHAR(32) NOT NULL", "TEXT NOT NULL"},
		{"actor_type", "BYTEA NOT NULL", "BLOB NOT NULL", "BLOB NOT NULL"},
		{"actor_id", "BYTEA NOT NULL", "BLOB NOT NULL", "BLOB NOT NULL"},
		{"owner_id", "BYTEA NOT NULL", "VARBINARY(800) NOT NULL", "BLOB NOT NULL"},
		{"key_id", "BYTEA NOT NULL", "VARBINARY(255) NOT NULL", "BLOB NOT NULL"},
		{"key_name", "BYTEA NOT NULL", "BLOB NOT NULL", "BLOB NOT NULL"},
		{"client_addr", "BYTEA NOT NULL", "BLOB NOT NULL", "BLOB NOT NULL"},
		{"request_id", "BYTEA NOT NULL", "BLOB NOT NULL", "BLOB NOT NULL"},
		{"details", "TEXT", "MEDIUMTEXT", "TEXT"},
	}
}

// auditIndexesV2: an owner's or a key's events in id (time) order, and
// time ranges.
func auditIndexesV2() []index {
	return []index{
		{"audit_events_owner_id", false, "owner_id, id"},
		{"audit_events_key_id", false, "key_id, id"},
		{"audit_events_time", false, "time"},
	}
}

// createTable returns the statements creating {p}<table> with cols and
// indexes on d, each idempotent. MySQL has no CREATE INDEX IF NOT EXISTS,
// so there the indexes are declared in the table, which also makes the
// table one atomic statement; MySQL tables get InnoDB and utf8mb4 with a
// binary collation, so that even text columns compare exactly.
func createTable(d Dialect, table string, cols []column, indexes []index) []string {
	var b strings.Builder
	b.WriteString("CREATE TABLE IF NOT EXISTS {p}" + table + " (")
	for i, c := range cols {
		if i > 0 {
			b.WriteString(",")
		}
		typ := c.sqlite
		switch d {
		case Postgres:
			typ = c.postgres
		case MySQL:
			typ = c.mysql
		}
		b.WriteString("\n\t" + c.name + " " + typ)
	}
	var stmts []string
	for _, ix := range indexes {
		kind := "INDEX"
		if ix.unique {
			kind = "UNIQUE INDEX"
		}
		if d == MySQL {
			b.WriteString(",\n\t" + kind + " {p}" + ix.name + " (" + ix.columns + ")")
			continue
		}
		stmts = append(stmts, "CREATE "+kind+" IF NOT EXISTS {p}"+ix.name+" ON {p}"+table+" ("+ix.columns+")")
	}
	b.WriteString("\n)")
	if d == MySQL {
		b.WriteString(" ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
	}
	return append([]string{b.String()}, stmts...)
}

// versionTable records the applied migrations.
const versionTable = `CREATE TABLE IF NOT EXISTS {p}schema_migrations (
	version    INTEGER NOT NULL PRIMARY KEY,
	applied_at BIGINT  NOT NULL
)`

// migrations returns d's migrations, versions 1…n, for prefix.
func migrations(d Dialect, prefix string) [][]string {
	src := [][]string{
		createTable(d, "api_keys", keysColumnsV1(), keysIndexesV1()),       // version 1
		createTable(d, "audit_events", auditColumnsV2(), auditIndexesV2()), // version 2: the audit log
		addColumns(d, "api_keys", keysColumnsV3()),                         // version 3: rate limits and quotas
		changeFeedV4(d), // version 4: the change feed (changes_schema.go)
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
