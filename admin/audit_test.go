package admin_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/admin"
	"github.com/keyward/apikey/audit"
	"github.com/keyward/apikey/store/memstore"
)

func TestAuditEventsOfEveryAction(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		hdr := []string{"X-Request-Id", "req-42"}
		created := e.do("POST", "/v1/api-keys", e.manager, map[string]any{"name": "audited"}, hdr...)
		require.Equal(t, http.StatusCreated, created.status)
		id := created.str("id")
		for _, body := range []map[string]any{{"name": "renamed"}, {"disabled": true}, {"disabled": false}} {
			require.Equal(t, http.StatusOK, e.do("PATCH", "/v1/api-keys/"+id, e.manager, body, hdr...).status)
		}
		rotated := e.do("POST", "/v1/api-keys/"+id+"/rotate", e.manager, map[string]any{"grace_period_seconds": 60}, hdr...)
		require.Equal(t, http.StatusCreated, rotated.status)
		require.Equal(t, http.StatusOK, e.do("DELETE", "/v1/api-keys/"+rotated.str("id"), e.manager, nil, hdr...).status)
		require.NoError(t, e.m.Revoke(context.Background(), id))
		_, err := e.m.Verify(context.Background(), created.str("key"))
		require.ErrorIs(t, err, apikey.ErrRevoked)

		a := e.do("GET", "/v1/audit-events?limit=100", e.reader, nil)
		require.Equal(t, http.StatusOK, a.status, a.body)
		var actions []string
		byAction := map[string]map[string]any{}
		for _, item := range a.json["data"].([]any) {
			ev := item.(map[string]any)
			if ev["key_id"] != id && ev["key_id"] != rotated.str("id") {
				continue
			}
			actions = append(actions, ev["action"].(string))
			byAction[ev["action"].(string)] = ev
		}
		assert.Equal(t, []string{"key.revoked_used", "key.revoked", "key.revoked", "key.created", "key.rotated",
			"key.enabled", "key.disabled", "key.updated", "key.created"}, actions, "newest first")
		ev := byAction["key.updated"]
		assert.Equal(t, "api_key", ev["actor_type"])
		assert.Equal(t, idOf(t, e, e.manager), ev["actor_id"])
		assert.Equal(t, "req-42", ev["request_id"])
		assert.Equal(t, "192.0.2.1:1234", ev["client_addr"], "httptest's RemoteAddr")
		assert.Equal(t, "org_1", ev["owner_id"])
		assert.Equal(t, "success", ev["outcome"])
		assert.Equal(t, "failure", byAction["key.revoked_used"]["outcome"])

		filtered := e.do("GET", "/v1/audit-events?action=key.rotated&key_id="+id, e.reader, nil)
		require.Equal(t, http.StatusOK, filtered.status)
		assert.Len(t, filtered.json["data"], 1)
		first := e.do("GET", "/v1/audit-events?limit=2", e.reader, nil)
		require.Equal(t, http.StatusOK, first.status)
		cursor, ok := first.json["next_cursor"].(string)
		require.True(t, ok)
		second := e.do("GET", "/v1/audit-events?limit=2&cursor="+cursor, e.reader, nil)
		require.Equal(t, http.StatusOK, second.status)
		assert.NotEqual(t, first.json["data"], second.json["data"])
		since := e.do("GET", "/v1/audit-events?since=2099-01-01T00:00:00Z", e.reader, nil)
		assert.Empty(t, since.json["data"])
		for _, q := range []string{"action=key.eaten", "since=yesterday", "until=1", "limit=0", "colour=red"} {
			bad := e.do("GET", "/v1/audit-events?"+q, e.reader, nil)
			assert.Equal(t, http.StatusBadRequest, bad.status, q)
		}
		e.noLeaks()
	})
}

func TestAuditWithoutStore(t *testing.T) {
	t.Parallel()
	m, err := apikey.New(memstore.New(), apikey.WithAuditStore(nil))
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	e := &env{t: t, m: m}
	e.h = e.mount()
	e.reader = e.issue(apikey.CreateParams{OwnerID: "o", Scopes: []string{admin.ScopeRead}})
	a := e.do("GET", "/v1/audit-events", e.reader, nil)
	assert.Equal(t, http.StatusNotImplemented, a.status)
	assert.Equal(t, "not_implemented", a.errCode())
}

func TestAuthorizer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, memstore.New())
	var principal *admin.Principal
	e.h = e.mount(admin.WithAuthorizer(func(r *http.Request) (*admin.Principal, error) {
		if r.Header.Get("Cookie") != "session=ok" {
			return nil, errors.New("no session")
		}
		return principal, nil
	}))
	session := []string{"Cookie", "session=ok"}

	principal = &admin.Principal{ActorID: "user_1", AllOwners: true, AnyScope: true}
	a := e.do("POST", "/v1/api-keys", "", map[string]any{"name": "by a person", "owner_id": "org_5", "scopes": []string{"*"}}, session...)
	require.Equal(t, http.StatusCreated, a.status, a.body)
	assert.Equal(t, "org_5", a.str("owner_id"))
	evs, err := e.m.ListAudit(context.Background(), audit.Query{KeyID: a.str("id")})
	require.NoError(t, err)
	require.Len(t, evs, 1)
	assert.Equal(t, audit.ActorUser, evs[0].ActorType)
	assert.Equal(t, "user_1", evs[0].ActorID)

	// An API key is not a session: hookstream's rule.
	assert.Equal(t, http.StatusUnauthorized, e.do("GET", "/v1/api-keys", e.manager, nil).status)

	principal = &admin.Principal{ActorID: "user_2", OwnerID: "org_1", Scopes: []string{admin.ScopeRead}}
	assert.Equal(t, http.StatusOK, e.do("GET", "/v1/api-keys", "", nil, session...).status)
	assert.Equal(t, http.StatusForbidden, e.do("POST", "/v1/api-keys", "", map[string]any{"name": "x"}, session...).status)
	assert.Equal(t, http.StatusNotFound, e.do("GET", "/v1/api-keys/"+a.str("id"), "", nil, session...).status, "org_5's key")

	principal = &admin.Principal{ActorID: "user_3", AnyScope: true} // no owner, not all owners
	assert.Equal(t, http.StatusForbidden, e.do("GET", "/v1/api-keys", "", nil, session...).status)
	principal = nil
	assert.Equal(t, http.StatusUnauthorized, e.do("GET", "/v1/api-keys", "", nil, session...).status)
}

func TestNewHandlerRejects(t *testing.T) {
	t.Parallel()
	m, err := apikey.New(memstore.New())
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	for name, opts := range map[string][]admin.Option{
		"nil authorizer":        {admin.WithAuthorizer(nil)},
		"authorizer and mw":     {admin.WithAuthorizer(func(*http.Request) (*admin.Principal, error) { return nil, nil }), admin.WithMiddlewareOptions(apikey.Realm("x"))},
		"zero body cap":         {admin.WithMaxBodyBytes(0)},
		"nil clock":             {admin.WithClock(nil)},
		"bad middleware option": {admin.WithMiddlewareOptions(apikey.Realm(`"`))},
	} {
		_, err := admin.NewHandler(m, opts...)
		assert.ErrorIs(t, err, apikey.ErrInvalidParams, name)
	}
	_, err = admin.NewHandler(nil)
	assert.ErrorIs(t, err, apikey.ErrInvalidParams)
}
