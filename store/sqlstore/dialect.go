package sqlstore

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Dialect names the SQL database behind a *sql.DB.
type Dialect int

const (
	// Postgres is PostgreSQL 12 or later (tested with pgx's database/sql
	// driver, github.com/jackc/pgx/v5/stdlib).
	Postgres Dialect = iota + 1
	// MySQL is MySQL 8 or MariaDB 10.5 or later (tested with
	// github.com/go-sql-driver/mysql).
	MySQL
	// SQLite is SQLite 3.35 or later (tested with modernc.org/sqlite).
	SQLite
)

func (d Dialect) String() string {
	switch d {
	case Postgres:
		return "postgres"
	case MySQL:
		return "mysql"
	case SQLite:
		return "sqlite"
	}
	return "Dialect(" + strconv.Itoa(int(d)) + ")"
}

func (d Dialect) valid() bool { return d >= Postgres && d <= SQLite }

// rebind turns the ? placeholders of q into $1, $2, … on PostgreSQL. The
// statements of this package contain no other question marks.
func (d Dialect) rebind(q string) string {
	if d != Postgres {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] != '?' {
			b.WriteByte(q[i])
			continue
		}
		n++
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(n))
	}
	return b.String()
}

// castTypes are the types AddUsage casts its parameters to, so that
// PostgreSQL can type a derived table of parameters.
func (d Dialect) castTypes() (binary, integer string) {
	switch d {
	case Postgres:
		return "BYTEA", "BIGINT"
	case MySQL:
		return "BINARY", "SIGNED"
	}
	return "BLOB", "INTEGER"
}

// sqlStater is implemented by the PostgreSQL errors of pgx and lib/pq.
type sqlStater interface{ SQLState() string }

// coder is implemented by modernc.org/sqlite's errors (extended result
// codes).
type coder interface{ Code() int }

// SQLite extended result codes for a violated unique or primary key.
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

// isUniqueViolation reports whether err is a violated unique index or
// primary key, without importing a driver: by SQLSTATE 23505 on
// PostgreSQL, error 1062 on MySQL and extended code 2067/1555 on SQLite,
// falling back to the drivers' message texts.
func (d Dialect) isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	switch d {
	case Postgres:
		var s sqlStater
		if errors.As(err, &s) {
			return s.SQLState() == "23505"
		}
		return strings.Contains(msg, "SQLSTATE 23505") || strings.Contains(msg, "duplicate key value violates unique constraint")
	case MySQL:
		// go-sql-driver/mysql: "Error 1062 (23000): Duplicate entry …".
		return strings.Contains(msg, "Error 1062") || strings.Contains(msg, "Duplicate entry")
	case SQLite:
		var c coder
		if errors.As(err, &c) && (c.Code() == sqliteConstraintUnique || c.Code() == sqliteConstraintPrimaryKey) {
			return true
		}
		return strings.Contains(msg, "UNIQUE constraint failed")
	}
	return false
}

// errUnknownDialect is returned for a Dialect that is none of the constants.
func errUnknownDialect(d Dialect) error { return fmt.Errorf("sqlstore: unknown dialect %v", d) }
