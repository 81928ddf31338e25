package admin_test

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/admin"
	"github.com/keyward/apikey/store/memstore"
	"github.com/keyward/apikey/store/sqlitestore"
)

// Rotation, and every change of a key, obeys the rules creation obeys: a
// caller acts only on keys it could have created itself. Over a real
// socket, on memstore and SQLite.
func TestNoEscalationThroughRotateOrChange(t *testing.T) {
	t.Parallel()
	for _, b := range []struct {
		name string
		open func(t *testing.T) apikey.Store
	}{
		{"memstore", func(*testing.T) apikey.Store { return memstore.New() }},
		{"sqlite", func(t *testing.T) apikey.Store {
			s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "keys.db"))
			require.NoError(t, err)
			t.Cleanup(func() { s.Close() })
			return s
		}},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testNoEscalationThroughRotateOrChange(t, b.open(t))
		})
	}
}

func testNoEscalationThroughRotateOrChange(t *testing.T, store apikey.Store) {
	plans := map[string]apikey.Limit{"free": apikey.PerMinute(100), "pro": apikey.PerMinute(1000)}
	e := newEnvWith(t, store, []apikey.Option{apikey.WithPlans(plans)}, admin.WithCreateLimit(nil))
	ctx := context.Background()
	type key struct{ id, secret string }
	issue := func(p apikey.CreateParams) key {
		t.Helper()
		p.OwnerID = "org_1"
		s := e.issue(p)
		return key{idOf(t, e, s), s}
	}
	manage := []string{admin.ScopeManage, "webhooks:*"}
	quota := &apikey.Quota{Limit: 100, Refill: apikey.RefillDaily}
	var (
		freeMgr    = issue(apikey.CreateParams{Scopes: manage, Plan: "free"})
		freeKey    = issue(apikey.CreateParams{Scopes: []string{"webhooks:read"}, Plan: "free"})
		proKey     = issue(apikey.CreateParams{Scopes: []string{"webhooks:read"}, Plan: "pro"})
		meteredMgr = issue(apikey.CreateParams{Scopes: manage, Quota: quota})
		metered    = issue(apikey.CreateParams{Scopes: []string{"webhooks:read"}, Quota: quota})
		plain      = issue(apikey.CreateParams{Scopes: []string{"webhooks:read"}})
		limited    = issue(apikey.CreateParams{Scopes: []string{"webhooks:read"}, RateLimit: apikey.PerSecond(1000)})
		weakMgr    = issue(apikey.CreateParams{Scopes: []string{admin.ScopeManage}})
		weakPeer   = issue(apikey.CreateParams{Scopes: []string{admin.ScopeManage}})
		adminKey   = issue(apikey.CreateParams{Scopes: []string{"*"}})
		testMgr    = issue(apikey.CreateParams{Scopes: manage, Environment: apikey.EnvTest})
		shortMgr   = issue(apikey.CreateParams{Scopes: manage, ExpiresAt: time.Now().Add(48 * time.Hour)})
	)
	// A mount for an administrator of org_1 (AnyScope), beside the keys' one.
	mux := http.NewServeMux()
	mux.Handle("/v1/", e.h)
	adminH, err := admin.NewHandler(e.m, admin.WithCreateLimit(nil), admin.WithAuthorizer(func(*http.Request) (*admin.Principal, error) {
		return &admin.Principal{ActorID: "alice", OwnerID: "org_1", AnyScope: true}, nil
	}))
	require.NoError(t, err)
	mux.Handle("/admin/", http.StripPrefix("/admin", adminH))
	c := e.serve(mux)

	ops := []struct {
		method, suffix string
		body           any
	}{
		{"POST", "/rotate", map[string]any{"grace_period_seconds": 0}},
		{"DELETE", "", nil},
		{"PATCH", "", map[string]any{"disabled": true}},
		{"PATCH", "", map[string]any{"name": "renamed"}},
	}
	refused := []struct {
		name          string
		caller        key
		target        key
		field         string // the 403's message starts with it
		onlyRotations bool
	}{
		{"a free key, a pro key", freeMgr, proKey, "plan", false},
		{"a free key, a key without a plan", freeMgr, plain, "plan", false},
		{"a metered key, an unmetered key", meteredMgr, plain, "quota", false},
		{"a metered key, another metered key", meteredMgr, metered, "quota", false},
		{"an unmetered key, a metered key", weakMgr, metered, "scopes", false},
		{"an unmetered key with the scopes, a metered key", adminKey, metered, "quota", false},
		{"a key without a limit, one with", adminKey, limited, "rate_limit", false},
		{"a weak key, the admin key", weakMgr, adminKey, "scopes", false},
		{"a weak key, a stronger key", weakMgr, plain, "scopes", false},
		{"a test key, a live key", testMgr, plain, "environment", false},
		{"a short-lived key, a key that never expires", shortMgr, plain, "expires_at", false},
		{"a short-lived key, itself (its successor would outlive it)", shortMgr, shortMgr, "expires_at", true},
	}
	before := map[string]*apikey.Key{}
	for _, k := range []key{proKey, plain, metered, limited, adminKey, shortMgr} {
		before[k.id], err = e.m.Get(ctx, k.id)
		require.NoError(t, err)
	}
	for _, tc := range refused {
		for _, op := range ops {
			if tc.onlyRotations && op.suffix != "/rotate" {
				continue
			}
			a := c.do(op.method, "/v1/api-keys/"+tc.target.id+op.suffix, tc.caller.secret, op.body)
			require.Equal(t, http.StatusForbidden, a.status, "%s: %s %s: %s", tc.name, op.method, op.suffix, a.body)
			assert.Equal(t, "forbidden", a.errCode(), tc.name)
			assert.True(t, strings.HasPrefix(a.errMessage(), tc.field+":"), "%s: %q names %s", tc.name, a.errMessage(), tc.field)
			assert.NotContains(t, a.json, "key", tc.name)
		}
	}
	for id, was := range before {
		now, err := e.m.Get(ctx, id)
		require.NoError(t, err)
		assert.Equal(t, was.Name, now.Name, "untouched")
		assert.Equal(t, apikey.StatusActive, now.Status(time.Now()), "untouched")
		assert.Empty(t, now.RotatedToID, "not rotated")
	}

	// What it could have created itself, it may rotate and change.
	allowed := []struct {
		name           string
		caller, target key
	}{
		{"a free key, a free key", freeMgr, freeKey},
		{"a metered key, itself (its budget moves on)", meteredMgr, meteredMgr},
		{"a weak key, its peer", weakMgr, weakPeer},
	}
	for _, tc := range allowed {
		a := c.do("PATCH", "/v1/api-keys/"+tc.target.id, tc.caller.secret, map[string]any{"name": "renamed"})
		require.Equal(t, http.StatusOK, a.status, "%s: %s", tc.name, a.body)
		a = c.do("POST", "/v1/api-keys/"+tc.target.id+"/rotate", tc.caller.secret, map[string]any{"grace_period_seconds": 60})
		require.Equal(t, http.StatusCreated, a.status, "%s: %s", tc.name, a.body)
		assert.Equal(t, tc.target.id, a.str("rotated_from_id"), tc.name)
	}
	// An administrator of the owner may act on any of its keys.
	for _, k := range []key{proKey, metered, adminKey} {
		a := c.do("POST", "/admin/api-keys/"+k.id+"/rotate", "", nil)
		require.Equal(t, http.StatusCreated, a.status, a.body)
	}
	a := c.do("DELETE", "/v1/api-keys/"+weakPeer.id, weakMgr.secret, nil)
	assert.Equal(t, http.StatusOK, a.status, "revoking a rotated peer: %s", a.body)
	e.noLeaks()
}
