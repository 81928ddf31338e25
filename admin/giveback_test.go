package admin_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
)

// The management API's own 403s give back what the caller's key took, as
// a refusal of apikey.RequireScopes does: a refused request spends nothing.
func TestForbiddenSpendsNoBudget(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		// A reader with a quota of 3: creating keys is forbidden to it.
		reader := e.issue(apikey.CreateParams{OwnerID: "org_1", Scopes: []string{"api_keys:read"},
			Quota: &apikey.Quota{Limit: 3}})
		for range 5 {
			a := e.do(http.MethodPost, "/v1/api-keys", reader, map[string]any{"name": "x"})
			require.Equal(t, http.StatusForbidden, a.status, a.body)
		}
		// Its whole budget is still there: three reads pass, the fourth is over.
		for i := range 3 {
			a := e.do(http.MethodGet, "/v1/api-keys", reader, nil)
			require.Equal(t, http.StatusOK, a.status, "read %d: %s", i, a.body)
		}
		a := e.do(http.MethodGet, "/v1/api-keys", reader, nil)
		require.Equal(t, http.StatusTooManyRequests, a.status, a.body)
	})
}
