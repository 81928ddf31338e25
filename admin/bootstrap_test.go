package admin_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/admin"
	"github.com/keyward/apikey/store/memstore"
)

// The README's bootstrap: a key without an owner, with api_keys:manage and
// the scopes it hands out, manages every owner's keys within those scopes
// (the CLI's "CI" key included); a bootstrap with api_keys:manage alone
// manages none of them, and no key manages a key with a plan.
func TestBootstrapKeyAsDocumented(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, memstore.New(), []apikey.Option{apikey.WithPlans(map[string]apikey.Limit{"pro": apikey.PerMinute(10)})},
		admin.WithCreateLimit(nil))
	bootstrap := e.issue(apikey.CreateParams{Name: "admin", Scopes: []string{admin.ScopeManage, "webhooks:*"}})
	manageOnly := e.issue(apikey.CreateParams{Name: "admin", Scopes: []string{admin.ScopeManage}})
	ci := idOf(t, e, e.issue(apikey.CreateParams{Name: "CI", OwnerID: "org_42", Scopes: []string{"webhooks:read"},
		ExpiresAt: time.Now().Add(90 * 24 * time.Hour)}))
	pro := idOf(t, e, e.issue(apikey.CreateParams{Name: "pro", OwnerID: "org_42", Scopes: []string{"webhooks:read"}, Plan: "pro"}))

	a := e.do("POST", "/v1/api-keys", manageOnly, map[string]any{"name": "x", "owner_id": "org_42", "scopes": []string{"webhooks:read"}})
	assert.Equal(t, http.StatusForbidden, a.status, a.body)
	a = e.do("DELETE", "/v1/api-keys/"+ci, manageOnly, nil)
	assert.Equal(t, http.StatusForbidden, a.status, a.body)

	a = e.do("POST", "/v1/api-keys", bootstrap, map[string]any{"name": "x", "owner_id": "org_42", "scopes": []string{"webhooks:read"}})
	require.Equal(t, http.StatusCreated, a.status, a.body)
	a = e.do("POST", "/v1/api-keys/"+ci+"/rotate", bootstrap, nil)
	require.Equal(t, http.StatusCreated, a.status, a.body)
	a = e.do("DELETE", "/v1/api-keys/"+a.str("id"), bootstrap, nil)
	require.Equal(t, http.StatusOK, a.status, a.body)
	a = e.do("DELETE", "/v1/api-keys/"+pro, bootstrap, nil)
	assert.Equal(t, http.StatusForbidden, a.status, a.body)
	assert.Equal(t, "forbidden", a.errCode())
	e.noLeaks()
}
