package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/admin"
	"github.com/keyward/apikey/store/sqlitestore"
)

// --json prints a key exactly as the REST API answers it: every field,
// null for what did not happen, the rate limit in period_seconds.
func TestJSONHasTheRESTShape(t *testing.T) {
	t.Parallel()
	db := filepath.Join(t.TempDir(), "keys.db")
	s, err := sqlitestore.Open(db)
	require.NoError(t, err)
	require.NoError(t, s.Migrate(context.Background()))
	m, err := apikey.New(s, apikey.WithoutUsageTracking())
	require.NoError(t, err)
	bare, _, err := m.Create(context.Background(), apikey.CreateParams{Name: "bare"})
	require.NoError(t, err)
	full, _, err := m.Create(context.Background(), apikey.CreateParams{Name: "full", OwnerID: "org_1",
		Scopes: []string{"a:b"}, Metadata: map[string]string{"k": "v"}, RateLimit: apikey.PerMinute(60),
		Quota: &apikey.Quota{Limit: 10, Refill: apikey.RefillDaily}})
	require.NoError(t, err)
	h, err := admin.NewHandler(m, admin.WithAuthorizer(func(*http.Request) (*admin.Principal, error) {
		return &admin.Principal{ActorID: "t", AllOwners: true, AnyScope: true}, nil
	}))
	require.NoError(t, err)

	for _, k := range []*apikey.Key{bare, full} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/api-keys/"+k.ID, nil))
		require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
		var rest, cli map[string]any
		require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &rest))

		r := runCLI("--db", db, "--json", "get", k.ID)
		require.Equal(t, exitOK, r.code, r.stderr)
		require.NoError(t, json.Unmarshal([]byte(r.stdout), &cli))
		assert.Equal(t, rest, cli, k.Name)
	}
	require.NoError(t, m.Close())
	require.NoError(t, s.Close())
}
