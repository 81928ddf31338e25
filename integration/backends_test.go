package integration

import (
	"context"
	"crypto/rand"
	"database/sql"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey/store/sqlstore"
)

// backend is a database server the tests run sqlstore against.
type backend struct {
	name    string
	dialect sqlstore.Dialect
	env     string // the variable holding its DSN
	example string
	// fresh creates an empty database of its own for t from dsn, dropped
	// when t ends, and returns a function that opens a new pool on it
	// (closed when t ends), dialing with dial if it is not nil.
	fresh func(t testing.TB, dsn string) (open opener)
}

// opener opens a pool on a test's database.
type opener func(dial dialFunc) *sql.DB

type dialFunc = func(ctx context.Context, network, addr string) (net.Conn, error)

var backends = []backend{
	{"postgres", sqlstore.Postgres, "APIKEY_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable", freshPostgres},
	{"mysql", sqlstore.MySQL, "APIKEY_TEST_MYSQL", "root@tcp(127.0.0.1:3306)/test", freshMySQL},
}

// eachBackend runs fn as a parallel subtest per backend, skipping backends
// whose DSN is not set.
func eachBackend(t *testing.T, fn func(t *testing.T, b backend, open opener)) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b, b.fresh(t, b.dsn(t)))
		})
	}
}

func (b backend) dsn(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv(b.env)
	if dsn == "" {
		t.Skipf("%s is not set; set it to a DSN such as %s to test sqlstore on %s", b.env, b.example, b.name)
	}
	return dsn
}

// uniqueName is a fresh lower-case identifier for a schema or database.
func uniqueName() string { return "apikey_test_" + strings.ToLower(rand.Text()) }

// freshPostgres creates a schema and opens pools whose search_path is it.
func freshPostgres(t testing.TB, dsn string) opener {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	require.NoError(t, err)
	admin := stdlib.OpenDB(*cfg)
	t.Cleanup(func() { admin.Close() })
	schema := uniqueName()
	_, err = admin.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err, "creating schema %s", schema)
	t.Cleanup(func() {
		_, err := admin.Exec("DROP SCHEMA " + schema + " CASCADE")
		require.NoError(t, err, "dropping schema %s", schema)
	})
	cfg.RuntimeParams["search_path"] = schema
	return func(dial dialFunc) *sql.DB {
		c := cfg.Copy()
		if dial != nil {
			c.DialFunc = dial
		}
		db := stdlib.OpenDB(*c)
		t.Cleanup(func() { db.Close() })
		return db
	}
}

// freshMySQL creates a database and opens pools on it.
func freshMySQL(t testing.TB, dsn string) opener {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	require.NoError(t, err)
	admin, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	t.Cleanup(func() { admin.Close() })
	name := uniqueName()
	_, err = admin.Exec("CREATE DATABASE " + name + " CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci")
	require.NoError(t, err, "creating database %s", name)
	t.Cleanup(func() {
		_, err := admin.Exec("DROP DATABASE " + name)
		require.NoError(t, err, "dropping database %s", name)
	})
	cfg.DBName = name
	return func(dial dialFunc) *sql.DB {
		c := cfg.Clone()
		c.DialFunc = dial
		conn, err := mysql.NewConnector(c)
		require.NoError(t, err)
		db := sql.OpenDB(conn)
		t.Cleanup(func() { db.Close() })
		return db
	}
}
