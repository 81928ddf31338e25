package integration

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/go-sql-driver/mysql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
	"github.com/keyward/apikey/store/sqlstore"
	"github.com/keyward/apikey/store/storetest"
)

// Issue 10, item 10: on a MySQL/MariaDB connection whose DSN says
// charset=utf8 (3-byte utf8mb3), a 4-byte character in a name, owner or
// metadata answered 503 (error 1366) instead of being stored. It is stored
// and read back byte for byte.
func TestMySQLCharsetUTF8(t *testing.T) {
	t.Parallel()
	b := backends[1]
	require.Equal(t, sqlstore.MySQL, b.dialect)
	dsn := b.dsn(t)
	var name string
	require.NoError(t, b.fresh(t, dsn)(nil).QueryRow("SELECT DATABASE()").Scan(&name))
	db := openMySQL(t, dsn, name, "charset=utf8")
	var client string
	require.NoError(t, db.QueryRow("SELECT @@character_set_client").Scan(&client))
	require.Contains(t, []string{"utf8", "utf8mb3"}, client, "the connection must be 3-byte utf8 for this test")

	ctx := context.Background()
	s := migrated(t, db, sqlstore.MySQL)
	const emoji = "\U0001F600" // 4 bytes in UTF-8
	rec := storetest.Record("charset utf8")
	rec.Name, rec.OwnerID = "name "+emoji, "owner "+emoji
	rec.Metadata = map[string]string{"key " + emoji: "value " + emoji, "latin": "équipe", "nul": "a\x00b"}
	require.NoError(t, s.Insert(ctx, rec), "Insert")
	got, err := s.ByID(ctx, rec.ID)
	require.NoError(t, err)
	assert.Equal(t, rec.Name, got.Name)
	assert.Equal(t, rec.OwnerID, got.OwnerID)
	assert.Equal(t, rec.Metadata, got.Metadata)

	listed, err := s.List(ctx, apikey.ListOptions{OwnerID: rec.OwnerID})
	require.NoError(t, err)
	require.Len(t, listed, 1, "listing by an owner with a 4-byte character")

	newName := strings.Repeat(emoji, 3)
	md := map[string]string{emoji: emoji}
	got, err = s.Update(ctx, rec.ID, apikey.UpdateParams{Name: &newName, Metadata: md})
	require.NoError(t, err, "Update")
	assert.Equal(t, newName, got.Name)
	assert.Equal(t, md, got.Metadata)

	ev := storetest.Event(audit.KeyUpdated, rec.OwnerID, rec.ID, got.CreatedAt)
	ev.KeyName, ev.Details = newName, map[string]string{"name": emoji}
	require.NoError(t, s.AppendAudit(ctx, ev), "AppendAudit")
	evs, err := s.ListAudit(ctx, audit.Query{KeyID: rec.ID, Limit: 10})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, newName, evs[0].KeyName)
	assert.Equal(t, ev.Details, evs[0].Details)
}

// openMySQL opens a pool on database name of the server of dsn, with the
// DSN parameters params (e.g. "charset=utf8") added.
func openMySQL(t testing.TB, dsn, name, params string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	require.NoError(t, err)
	cfg.DBName = name
	withName := cfg.FormatDSN()
	sep := "?"
	if strings.Contains(withName, "?") {
		sep = "&"
	}
	db, err := sql.Open("mysql", withName+sep+params)
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}
