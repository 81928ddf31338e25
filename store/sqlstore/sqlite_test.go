package sqlstore_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/sqlstore"
	"github.com/keyward/apikey/store/storetest"
)

// openSQLite opens a fresh SQLite file the way a caller of sqlstore might:
// only a busy timeout, no WAL and no _txlock (sqlitestore sets those).
func openSQLite(t testing.TB) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "keys.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

func newSQLiteStore(t testing.TB, db *sql.DB, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(db, sqlstore.SQLite, opts...)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSQLiteConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) apikey.Store {
		return newSQLiteStore(t, openSQLite(t), sqlstore.WithTablePrefix("apikey_"))
	})
}

func TestSQLiteMigrateTwice(t *testing.T) {
	t.Parallel()
	db := openSQLite(t)
	s := newSQLiteStore(t, db)
	require.NoError(t, s.Migrate(context.Background()), "second Migrate")
	var n int
	require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n))
	require.Equal(t, 4, n, "each of the four versions recorded once")
}

func TestSQLiteMigrateConcurrently(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "keys.db")
	// Two instances: two pools on one fresh file.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				errs[i] = err
				return
			}
			defer db.Close()
			s, err := sqlstore.New(db, sqlstore.SQLite)
			if err != nil {
				errs[i] = err
				return
			}
			errs[i] = s.Migrate(context.Background())
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.NoError(t, err, "Migrate %d", i)
	}
}

func TestSQLiteDDL(t *testing.T) {
	t.Parallel()
	db := openSQLite(t)
	// A team's own migration tool applies the exported statements.
	for _, stmt := range strings.Split(sqlstore.DDL(sqlstore.SQLite), ";\n") {
		if strings.TrimSpace(stmt) != "" {
			_, err := db.Exec(stmt)
			require.NoError(t, err, stmt)
		}
	}
	s, err := sqlstore.New(db, sqlstore.SQLite)
	require.NoError(t, err)
	rec := storetest.Record("ddl")
	require.NoError(t, s.Insert(context.Background(), rec))
	got, err := s.ByDigest(context.Background(), rec.Digest)
	require.NoError(t, err)
	require.Equal(t, rec.ID, got.ID)
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	db := openSQLite(t)
	_, err := sqlstore.New(nil, sqlstore.SQLite)
	require.Error(t, err, "nil db")
	_, err = sqlstore.New(db, sqlstore.Dialect(0))
	require.Error(t, err, "unknown dialect")
	for _, p := range []string{"1x_", "a-b", "a b", "x;DROP", strings.Repeat("a", 33)} {
		_, err = sqlstore.New(db, sqlstore.SQLite, sqlstore.WithTablePrefix(p))
		require.Error(t, err, "prefix %q", p)
		require.Empty(t, sqlstore.DDL(sqlstore.SQLite, sqlstore.WithTablePrefix(p)), "DDL with prefix %q", p)
	}
}
