package main

import (
	"crypto/rand"
	"database/sql"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/require"
)

// uniqueName is a fresh schema or database name.
func uniqueName() string { return "apikey_cli_" + strings.ToLower(rand.Text()) }

// TestLifecyclePostgres drives the CLI against the real PostgreSQL of
// APIKEY_TEST_POSTGRES, in a schema of its own.
func TestLifecyclePostgres(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("APIKEY_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("APIKEY_TEST_POSTGRES is not set")
	}
	db, err := sql.Open("pgx", dsn)
	require.NoError(t, err)
	defer db.Close()
	schema := uniqueName()
	_, err = db.Exec("CREATE SCHEMA " + schema)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.Exec("DROP SCHEMA " + schema + " CASCADE") })
	u, err := url.Parse(dsn)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	lifecycle(t, u.String())
}

// TestLifecycleMySQL drives the CLI against the real MariaDB of
// APIKEY_TEST_MYSQL, in a database of its own.
func TestLifecycleMySQL(t *testing.T) {
	t.Parallel()
	dsn := os.Getenv("APIKEY_TEST_MYSQL")
	if dsn == "" {
		t.Skip("APIKEY_TEST_MYSQL is not set")
	}
	cfg, err := mysql.ParseDSN(dsn)
	require.NoError(t, err)
	db, err := sql.Open("mysql", cfg.FormatDSN())
	require.NoError(t, err)
	defer db.Close()
	name := uniqueName()
	_, err = db.Exec("CREATE DATABASE " + name)
	require.NoError(t, err)
	t.Cleanup(func() { _, _ = db.Exec("DROP DATABASE " + name) })
	cfg.DBName = name
	lifecycle(t, "mysql://"+cfg.FormatDSN())
}
