package sqlitestore_test

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/sqlitestore"
	"github.com/keyward/apikey/store/storetest"
)

func open(t testing.TB, opts ...sqlitestore.Option) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "keys.db"), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) apikey.Store { return open(t) })
}

func TestConformanceSynchronousNormal(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) apikey.Store {
		return open(t, sqlitestore.WithSynchronous(sqlitestore.SynchronousNormal))
	})
}
