package integration

import (
	"context"
	"database/sql"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/sqlstore"
	"github.com/keyward/apikey/store/storetest"
)

func newStore(t testing.TB, db *sql.DB, d sqlstore.Dialect, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	s, err := sqlstore.New(db, d, opts...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func migrated(t testing.TB, db *sql.DB, d sqlstore.Dialect, opts ...sqlstore.Option) *sqlstore.Store {
	t.Helper()
	s := newStore(t, db, d, opts...)
	require.NoError(t, s.Migrate(context.Background()))
	return s
}

func TestConformance(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, _ opener) {
		storetest.Run(t, func(t *testing.T) apikey.Store {
			// A database of its own for each subtest.
			return migrated(t, b.fresh(t, b.dsn(t))(nil), b.dialect)
		})
	})
}

func TestConformanceTablePrefix(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, open opener) {
		db := open(nil)
		n := 0
		storetest.Run(t, func(t *testing.T) apikey.Store {
			// One database, a table prefix per subtest.
			n++
			return migrated(t, db, b.dialect, sqlstore.WithTablePrefix("t"+strings.Repeat("x", n)+"_"))
		})
	})
}

func TestMigrateTwice(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, open opener) {
		db := open(nil)
		s := migrated(t, db, b.dialect)
		require.NoError(t, s.Migrate(context.Background()), "second Migrate")
		var n int
		require.NoError(t, db.QueryRow("SELECT COUNT(*) FROM schema_migrations").Scan(&n))
		require.Equal(t, 4, n, "each of the four versions recorded once")
	})
}

func TestMigrateConcurrently(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, open opener) {
		// Four instances start at once on a fresh database, each with its
		// own pool.
		stores := make([]*sqlstore.Store, 4)
		for i := range stores {
			stores[i] = newStore(t, open(nil), b.dialect)
		}
		var wg sync.WaitGroup
		errs := make([]error, len(stores))
		for i, s := range stores {
			wg.Go(func() { errs[i] = s.Migrate(context.Background()) })
		}
		wg.Wait()
		for i, err := range errs {
			require.NoError(t, err, "Migrate %d", i)
		}
		rec := storetest.Record("after concurrent migrate")
		require.NoError(t, stores[0].Insert(context.Background(), rec))
		_, err := stores[3].ByDigest(context.Background(), rec.Digest)
		require.NoError(t, err)
	})
}

func TestDDL(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, open opener) {
		db := open(nil)
		// A team's own migration tool applies the exported statements.
		ddl := sqlstore.DDL(b.dialect, sqlstore.WithTablePrefix("own_"))
		for _, stmt := range strings.Split(ddl, ";\n") {
			if strings.TrimSpace(stmt) != "" {
				_, err := db.Exec(stmt)
				require.NoError(t, err, stmt)
			}
		}
		s := newStore(t, db, b.dialect, sqlstore.WithTablePrefix("own_"))
		rec := storetest.Record("ddl")
		require.NoError(t, s.Insert(context.Background(), rec))
		got, err := s.ByDigest(context.Background(), rec.Digest)
		require.NoError(t, err)
		require.Equal(t, rec.ID, got.ID)
	})
}
