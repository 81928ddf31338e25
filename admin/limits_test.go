package admin_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/admin"
	"github.com/keyward/apikey/store/memstore"
)

// An administrator sets plans, rate limits and quotas; other callers'
// keys take their own, and a metered key creates none.
func TestCreateWithLimits(t *testing.T) {
	t.Parallel()
	m, err := apikey.New(memstore.New(), apikey.WithPlans(map[string]apikey.Limit{"team": apikey.PerMinute(300)}))
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	e := &env{t: t, m: m}
	adminH := e.mount(admin.WithAuthorizer(func(*http.Request) (*admin.Principal, error) {
		return &admin.Principal{ActorID: "alice", AllOwners: true, AnyScope: true}, nil
	}))
	e.h = adminH
	a := e.do("POST", "/v1/api-keys", "", map[string]any{
		"name": "metered", "owner_id": "org_1", "scopes": []string{admin.ScopeManage},
		"plan": "team", "rate_limit": map[string]any{"requests": 100, "period_seconds": 60},
		"quota": map[string]any{"limit": 1000, "refill": "month"},
	})
	require.Equal(t, 201, a.status, a.body)
	assert.Equal(t, "team", a.json["plan"])
	assert.Equal(t, map[string]any{"requests": float64(100), "period_seconds": float64(60), "burst": float64(0)}, a.json["rate_limit"])
	assert.Equal(t, float64(1000), a.json["quota"].(map[string]any)["remaining"])
	metered := a.json["key"].(string)

	a = e.do("POST", "/v1/api-keys", "", map[string]any{"name": "x", "owner_id": "org_1", "plan": "platinum"})
	assert.Equal(t, 400, a.status, "an unknown plan: %s", a.body)
	for _, bad := range []map[string]any{
		{"requests": 0, "period_seconds": 60},
		{"requests": 10, "period_seconds": -1},
		{"requests": 10, "period_seconds": 60, "burst": -1},
	} {
		a = e.do("POST", "/v1/api-keys", "", map[string]any{"name": "x", "owner_id": "org_1", "rate_limit": bad})
		assert.Equal(t, 400, a.status, "%v: %s", bad, a.body)
		assert.True(t, strings.HasPrefix(a.errMessage(), "rate_limit:"), "%v: %s", bad, a.body)
	}

	// A key that manages keys cannot set limits, and passes on its own.
	_, planned, err := m.Create(context.Background(), apikey.CreateParams{Name: "mgr", OwnerID: "org_1",
		Scopes: []string{admin.ScopeManage}, Plan: "team"})
	require.NoError(t, err)
	e.h = e.mount()
	a = e.do("POST", "/v1/api-keys", planned, map[string]any{"name": "x", "plan": "team"})
	assert.Equal(t, 403, a.status, a.body)
	a = e.do("POST", "/v1/api-keys", planned, map[string]any{"name": "child"})
	require.Equal(t, 201, a.status, a.body)
	assert.Equal(t, "team", a.json["plan"], "inherited")

	a = e.do("POST", "/v1/api-keys", metered, map[string]any{"name": "escape"})
	assert.Equal(t, 403, a.status, "a metered key would multiply its budget: %s", a.body)
}

// Key creation is limited per owner by default: 10 an hour.
func TestDefaultCreateLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, memstore.New())
	for i := range admin.DefaultCreateLimit {
		a := e.do("POST", "/v1/api-keys", e.manager, map[string]any{"name": "k"})
		require.Equal(t, 201, a.status, "create %d: %s", i+1, a.body)
	}
	a := e.do("POST", "/v1/api-keys", e.manager, map[string]any{"name": "one too many"})
	assert.Equal(t, http.StatusTooManyRequests, a.status, a.body)
	assert.Equal(t, "360", a.header.Get("Retry-After"), "one more creation every six minutes")
	a = e.do("POST", "/v1/api-keys", e.other, map[string]any{"name": "another owner"})
	assert.Equal(t, 201, a.status, "counted per owner: %s", a.body)
}
