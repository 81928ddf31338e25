package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/admin"
)

// The management routes on the real servers: the lifecycle, tenant
// isolation, the no-escalation rule, errors, and the audit log.
func TestAdminHandler(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, open opener) {
		ctx := context.Background()
		m, err := apikey.New(migrated(t, open(nil), b.dialect))
		require.NoError(t, err)
		t.Cleanup(func() { m.Close() })
		h, err := admin.NewHandler(m)
		require.NoError(t, err)
		mux := http.NewServeMux()
		mux.Handle("/v1/", http.StripPrefix("/v1", h))

		issue := func(owner string, scopes ...string) string {
			_, secret, err := m.Create(ctx, apikey.CreateParams{Name: "caller", OwnerID: owner, Scopes: scopes})
			require.NoError(t, err)
			return secret
		}
		manager := issue("org_1", admin.ScopeManage, "webhooks:read")
		other := issue("org_2", admin.ScopeManage)

		var secrets []string
		do := func(method, path, key string, body any) (int, map[string]any, string) {
			t.Helper()
			var rd *bytes.Reader
			if body != nil {
				js, err := json.Marshal(body)
				require.NoError(t, err)
				rd = bytes.NewReader(js)
			} else {
				rd = bytes.NewReader(nil)
			}
			r := httptest.NewRequest(method, path, rd)
			r.Header.Set("X-API-Key", key)
			if body != nil {
				r.Header.Set("Content-Type", "application/json")
			}
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, r)
			var out map[string]any
			_ = json.Unmarshal(w.Body.Bytes(), &out)
			for _, s := range secrets {
				if k, _ := out["key"].(string); k != s {
					assert.NotContains(t, w.Body.String(), s, "a key appeared after its creation answer")
				}
			}
			return w.Code, out, w.Body.String()
		}

		code, created, body := do("POST", "/v1/api-keys", manager, map[string]any{
			"name": "CI '); DROP TABLE api_keys; --", "scopes": []string{"webhooks:read"}, "expires_in_days": 30,
			"metadata": map[string]string{"team": "nul\x00byte"}})
		require.Equal(t, 201, code, body)
		secret := created["key"].(string)
		secrets = append(secrets, secret)
		id := created["id"].(string)
		_, err = m.Verify(ctx, secret, "webhooks:read")
		require.NoError(t, err, "the created key works")

		code, list, body := do("GET", "/v1/api-keys?status=active", manager, nil)
		require.Equal(t, 200, code, body)
		assert.Len(t, list["data"], 2, "org_1's two keys, masked")
		assert.NotContains(t, body, secret)

		code, got, body := do("GET", "/v1/api-keys/"+id, manager, nil)
		require.Equal(t, 200, code, body)
		assert.Equal(t, "CI '); DROP TABLE api_keys; --", got["name"], "stored verbatim")

		// Tenant isolation: another owner's key is as unknown as a missing one.
		code, _, _ = do("GET", "/v1/api-keys/"+id, other, nil)
		assert.Equal(t, 404, code)
		code, _, _ = do("DELETE", "/v1/api-keys/"+id, other, nil)
		assert.Equal(t, 404, code)
		// No escalation: a scope the caller does not hold.
		code, _, _ = do("POST", "/v1/api-keys", manager, map[string]any{"name": "x", "scopes": []string{"billing:write"}})
		assert.Equal(t, 403, code)
		// Errors name the field.
		code, bad, _ := do("POST", "/v1/api-keys", manager, map[string]any{"name": "x", "expires_in_days": 0})
		assert.Equal(t, 400, code)
		assert.True(t, strings.HasPrefix(bad["error"].(map[string]any)["message"].(string), "expires_in_days:"))

		code, _, body = do("PATCH", "/v1/api-keys/"+id, manager, map[string]any{"name": "renamed", "disabled": true})
		require.Equal(t, 200, code, body)
		_, err = m.Verify(ctx, secret)
		assert.ErrorIs(t, err, apikey.ErrDisabled)
		code, _, _ = do("PATCH", "/v1/api-keys/"+id, manager, map[string]any{"disabled": false})
		require.Equal(t, 200, code)

		code, rotated, body := do("POST", "/v1/api-keys/"+id+"/rotate", manager, map[string]any{"grace_period_seconds": 0})
		require.Equal(t, 201, code, body)
		next := rotated["key"].(string)
		secrets = append(secrets, next)
		_, err = m.Verify(ctx, secret)
		assert.ErrorIs(t, err, apikey.ErrExpired, "grace 0: the old key stops at once")
		_, err = m.Verify(ctx, next)
		require.NoError(t, err)

		nextID := rotated["id"].(string)
		code, _, _ = do("DELETE", "/v1/api-keys/"+nextID, manager, nil)
		require.Equal(t, 200, code)
		code, _, _ = do("DELETE", "/v1/api-keys/"+nextID, manager, nil)
		assert.Equal(t, 404, code, "revoking twice")
		_, err = m.Verify(ctx, next)
		assert.ErrorIs(t, err, apikey.ErrRevoked)

		code, events, body := do("GET", "/v1/audit-events?key_id="+id, manager, nil)
		require.Equal(t, 200, code, body)
		var actions []string
		for _, ev := range events["data"].([]any) {
			actions = append(actions, ev.(map[string]any)["action"].(string))
		}
		assert.Subset(t, actions, []string{"key.created", "key.updated", "key.disabled", "key.enabled", "key.rotated"})
		code, _, _ = do("GET", "/v1/audit-events?key_id="+id, other, nil)
		assert.Equal(t, 200, code)
	})
}

// Rotation and every change obey the rules creation obeys, on the real
// servers, over a socket: a free-plan, a metered and a weak manage key are
// refused the keys they could not have created, and nothing changes.
func TestAdminNoEscalationThroughRotate(t *testing.T) {
	eachBackend(t, func(t *testing.T, b backend, open opener) {
		ctx := context.Background()
		m, err := apikey.New(migrated(t, open(nil), b.dialect),
			apikey.WithPlans(map[string]apikey.Limit{"free": apikey.PerMinute(100), "pro": apikey.PerMinute(1000)}))
		require.NoError(t, err)
		t.Cleanup(func() { m.Close() })
		h, err := admin.NewHandler(m, admin.WithCreateLimit(nil))
		require.NoError(t, err)
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)

		type key struct{ id, secret string }
		issue := func(p apikey.CreateParams) key {
			p.Name, p.OwnerID = "k", "org_1"
			k, secret, err := m.Create(ctx, p)
			require.NoError(t, err)
			return key{k.ID, secret}
		}
		manage := []string{admin.ScopeManage, "webhooks:*"}
		freeMgr := issue(apikey.CreateParams{Scopes: manage, Plan: "free"})
		meteredMgr := issue(apikey.CreateParams{Scopes: manage, Quota: &apikey.Quota{Limit: 10, Refill: apikey.RefillDaily}})
		weakMgr := issue(apikey.CreateParams{Scopes: []string{admin.ScopeManage}})
		pro := issue(apikey.CreateParams{Scopes: []string{"webhooks:read"}, Plan: "pro"})
		plain := issue(apikey.CreateParams{Scopes: []string{"webhooks:read"}})
		root := issue(apikey.CreateParams{Scopes: []string{"*"}})
		freeKey := issue(apikey.CreateParams{Scopes: []string{"webhooks:read"}, Plan: "free"})

		do := func(method, path, key string) (int, string) {
			t.Helper()
			req, err := http.NewRequest(method, srv.URL+path, nil)
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+key)
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			var buf bytes.Buffer
			_, err = buf.ReadFrom(resp.Body)
			require.NoError(t, err)
			return resp.StatusCode, buf.String()
		}
		for _, tc := range []struct {
			caller, target key
			field          string
		}{
			{freeMgr, pro, "plan"},
			{meteredMgr, plain, "quota"},
			{weakMgr, root, "scopes"},
		} {
			for _, op := range []struct{ method, suffix string }{{"POST", "/rotate"}, {"DELETE", ""}} {
				code, body := do(op.method, "/api-keys/"+tc.target.id+op.suffix, tc.caller.secret)
				require.Equal(t, 403, code, body)
				assert.Contains(t, body, `"message":"`+tc.field+`:`)
			}
			k, err := m.Get(ctx, tc.target.id)
			require.NoError(t, err)
			assert.True(t, k.RevokedAt.IsZero() && k.RotatedToID == "", "untouched")
		}
		code, body := do("POST", "/api-keys/"+freeKey.id+"/rotate", freeMgr.secret)
		assert.Equal(t, 201, code, "a key it could have created: %s", body)
	})
}
