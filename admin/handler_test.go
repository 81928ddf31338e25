package admin_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/admin"
	"github.com/keyward/apikey/store/memstore"
)

func TestCreateKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		a := e.mustCreate(map[string]any{
			"name": "CI", "scopes": []string{"webhooks:read"}, "expires_in_days": 90,
			"metadata": map[string]string{"team": "platform"},
		})
		secret := a.str("key")
		assert.Regexp(t, keyPattern(t), secret)
		assert.Equal(t, "no-store", a.header.Get("Cache-Control"))
		assert.Equal(t, secret[:12], a.str("prefix"))
		assert.Equal(t, "org_1", a.str("owner_id"), "the caller's owner")
		assert.Equal(t, "live", a.str("environment"))
		assert.Equal(t, "active", a.str("status"))
		assert.Equal(t, []any{"webhooks:read"}, a.json["scopes"])
		assert.Nil(t, a.json["last_used_at"])
		assert.Nil(t, a.json["revoked_at"])
		assert.Equal(t, float64(0), a.json["request_count"])
		exp, err := time.Parse(time.RFC3339, a.str("expires_at"))
		require.NoError(t, err)
		assert.WithinDuration(t, time.Now().Add(90*24*time.Hour), exp, time.Minute)
		assert.True(t, strings.HasSuffix(a.str("created_at"), "Z"), "UTC")

		k, err := e.m.Verify(context.Background(), secret, "webhooks:read")
		require.NoError(t, err, "the key works")
		assert.Equal(t, a.str("id"), k.ID)

		got := e.do("GET", "/v1/api-keys/"+k.ID, e.reader, nil)
		require.Equal(t, http.StatusOK, got.status, got.body)
		assert.NotContains(t, got.json, "key", "masked after creation")
		assert.Equal(t, "CI", got.str("name"))
		assert.Equal(t, map[string]any{"team": "platform"}, got.json["metadata"])

		at := e.mustCreate(map[string]any{"name": "until", "expires_at": "2099-01-02T03:04:05+02:00", "environment": "test"})
		assert.Equal(t, "2099-01-02T01:04:05Z", at.str("expires_at"))
		assert.True(t, strings.HasPrefix(at.str("key"), "sk_test_"))
		e.noLeaks()
	})
}

func TestCreateKeyBadRequests(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			name   string
			body   any
			status int
			field  string // the message starts with it
			header []string
		}{
			{"invalid JSON", `{"name":`, 400, "body", nil},
			{"syntax error", `{"name" "x"}`, 400, "body", nil},
			{"not an object", `["x"]`, 400, "body", nil},
			{"empty body", ``, 400, "body", nil},
			{"trailing data", `{"name":"x"} {}`, 400, "body", nil},
			{"unknown field", map[string]any{"name": "x", "rate_limits": 5}, 400, `"rate_limits"`, nil},
			{"rate_limit of wrong type", map[string]any{"name": "x", "rate_limit": 5}, 400, "rate_limit", nil},
			{"name of wrong type", map[string]any{"name": 5}, 400, "name", nil},
			{"scopes of wrong type", map[string]any{"name": "x", "scopes": "webhooks:read"}, 400, "scopes", nil},
			{"metadata of wrong type", map[string]any{"name": "x", "metadata": map[string]any{"a": 1}}, 400, "metadata", nil},
			{"missing name", map[string]any{"scopes": []string{}}, 400, "name", nil},
			{"name too long", map[string]any{"name": strings.Repeat("n", 201)}, 400, "name", nil},
			{"invalid scope", map[string]any{"name": "x", "scopes": []string{"a b"}}, 400, "scopes", nil},
			{"bad environment", map[string]any{"name": "x", "environment": "prod"}, 400, "environment", nil},
			{"zero days", map[string]any{"name": "x", "expires_in_days": 0}, 400, "expires_in_days", nil},
			{"too many days", map[string]any{"name": "x", "expires_in_days": 36501}, 400, "expires_in_days", nil},
			{"fractional days", map[string]any{"name": "x", "expires_in_days": 1.5}, 400, "expires_in_days", nil},
			{"both expiries", map[string]any{"name": "x", "expires_in_days": 1, "expires_at": "2099-01-01T00:00:00Z"}, 400, "expires_at", nil},
			{"bad time", map[string]any{"name": "x", "expires_at": "tomorrow"}, 400, "expires_at", nil},
			{"past time", map[string]any{"name": "x", "expires_at": "2001-01-01T00:00:00Z"}, 400, "expires_at", nil},
			{"zero time", map[string]any{"name": "x", "expires_at": "0001-01-01T00:00:00Z"}, 400, "expires_at", nil},
			{"zero time elsewhere", map[string]any{"name": "x", "expires_at": "0001-01-01T01:00:00+01:00"}, 400, "expires_at", nil},
			{"metadata too big", map[string]any{"name": "x", "metadata": map[string]string{"a": strings.Repeat("v", 17<<10)}}, 400, "metadata", nil},
			{"body too large", map[string]any{"name": strings.Repeat("n", 70<<10)}, 413, "", nil},
			{"not JSON", `name=x`, 415, "", []string{"Content-Type", "application/x-www-form-urlencoded"}},
		} {
			a := e.do("POST", "/v1/api-keys", e.manager, tc.body, tc.header...)
			require.Equal(t, tc.status, a.status, "%s: %s", tc.name, a.body)
			assert.Equal(t, "application/json", a.header.Get("Content-Type"), tc.name)
			assert.NotEmpty(t, a.errCode(), tc.name)
			if tc.field != "" {
				assert.Equal(t, "invalid_request", a.errCode(), tc.name)
				assert.True(t, strings.HasPrefix(a.errMessage(), tc.field+":"), "%s: %q names %s", tc.name, a.errMessage(), tc.field)
			}
		}
		keys, err := e.m.List(context.Background(), apikey.ListOptions{OwnerID: "org_1"})
		require.NoError(t, err)
		assert.Len(t, keys, 2, "nothing was created")
	})
}

func TestNoEscalation(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		forbidden := func(a answer, field string) {
			t.Helper()
			require.Equal(t, http.StatusForbidden, a.status, a.body)
			assert.Equal(t, "forbidden", a.errCode())
			assert.True(t, strings.HasPrefix(a.errMessage(), field+":"), a.errMessage())
		}
		forbidden(e.do("POST", "/v1/api-keys", e.manager, map[string]any{"name": "x", "scopes": []string{"billing:read"}}), "scopes")
		forbidden(e.do("POST", "/v1/api-keys", e.manager, map[string]any{"name": "x", "scopes": []string{"*"}}), "scopes")
		forbidden(e.do("POST", "/v1/api-keys", e.manager, map[string]any{"name": "x", "owner_id": "org_2"}), "owner_id")
		// Scopes it holds, wildcards included, are fine.
		e.mustCreate(map[string]any{"name": "ok", "scopes": []string{"webhooks:write", admin.ScopeManage, "webhooks:*"}})

		// A test key issues only test keys.
		test := e.issue(apikey.CreateParams{OwnerID: "org_1", Environment: "test", Scopes: []string{admin.ScopeManage}})
		forbidden(e.do("POST", "/v1/api-keys", test, map[string]any{"name": "x", "environment": "live"}), "environment")
		a := e.do("POST", "/v1/api-keys", test, map[string]any{"name": "x"})
		require.Equal(t, http.StatusCreated, a.status, a.body)
		assert.Equal(t, "test", a.str("environment"), "a test key's default")

		// A key cannot outlive the caller.
		until := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
		short := e.issue(apikey.CreateParams{OwnerID: "org_1", ExpiresAt: until, Scopes: []string{admin.ScopeManage, "webhooks:*"}})
		forbidden(e.do("POST", "/v1/api-keys", short, map[string]any{"name": "x", "expires_in_days": 3}), "expires_at")
		a = e.do("POST", "/v1/api-keys", short, map[string]any{"name": "x"})
		require.Equal(t, http.StatusCreated, a.status, a.body)
		assert.Equal(t, until.Format(time.RFC3339), a.str("expires_at"), "not asked for: the caller's expiry")

		// Nor rotate a key into scopes it lacks, or one that outlives it.
		wide := e.issue(apikey.CreateParams{Name: "wide", OwnerID: "org_1", Scopes: []string{"billing:write"}})
		wideID := idOf(t, e, wide)
		forbidden(e.do("POST", "/v1/api-keys/"+wideID+"/rotate", e.manager, nil), "scopes")
		forever := idOf(t, e, e.issue(apikey.CreateParams{OwnerID: "org_1", Scopes: []string{"webhooks:read"}}))
		forbidden(e.do("POST", "/v1/api-keys/"+forever+"/rotate", short, nil), "expires_at")
		// The service key (no owner, "*") may do all of it.
		a = e.do("POST", "/v1/api-keys/"+wideID+"/rotate", e.service, nil)
		require.Equal(t, http.StatusCreated, a.status, a.body)
		a = e.do("POST", "/v1/api-keys", e.service, map[string]any{"name": "for org_9", "owner_id": "org_9", "scopes": []string{"*"}})
		require.Equal(t, http.StatusCreated, a.status, a.body)
		assert.Equal(t, "org_9", a.str("owner_id"))
		e.noLeaks()
	})
}

// idOf finds the ID of a key by verifying it.
func idOf(t *testing.T, e *env, secret string) string {
	t.Helper()
	k, err := e.m.Verify(context.Background(), secret)
	require.NoError(t, err)
	return k.ID
}

func TestTenantIsolation(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		mine := e.mustCreate(map[string]any{"name": "mine"}).str("id")
		theirs := e.do("POST", "/v1/api-keys", e.other, map[string]any{"name": "theirs"})
		require.Equal(t, http.StatusCreated, theirs.status)
		theirsID := theirs.str("id")

		for _, req := range []struct{ method, path string }{
			{"GET", "/v1/api-keys/" + theirsID},
			{"PATCH", "/v1/api-keys/" + theirsID},
			{"DELETE", "/v1/api-keys/" + theirsID},
			{"POST", "/v1/api-keys/" + theirsID + "/rotate"},
		} {
			var body any
			if req.method == "PATCH" {
				body = map[string]any{"disabled": true}
			}
			a := e.do(req.method, req.path, e.manager, body)
			unknown := e.do(req.method, strings.Replace(req.path, theirsID, "01900000-0000-7000-8000-000000000000", 1), e.manager, body)
			require.Equal(t, http.StatusNotFound, a.status, "%s %s: %s", req.method, req.path, a.body)
			assert.Equal(t, unknown.body, a.body, "another owner's key looks unknown")
		}
		k, err := e.m.Get(context.Background(), theirsID)
		require.NoError(t, err)
		assert.Equal(t, apikey.StatusActive, k.Status(time.Now()), "untouched")

		list := e.do("GET", "/v1/api-keys?limit=500", e.manager, nil)
		require.Equal(t, http.StatusOK, list.status)
		var ids []string
		for _, item := range list.json["data"].([]any) {
			k := item.(map[string]any)
			assert.Equal(t, "org_1", k["owner_id"])
			ids = append(ids, k["id"].(string))
		}
		assert.Contains(t, ids, mine)
		assert.Equal(t, http.StatusForbidden, e.do("GET", "/v1/api-keys?owner_id=org_2", e.manager, nil).status)
		assert.Equal(t, http.StatusOK, e.do("GET", "/v1/api-keys?owner_id=org_1", e.manager, nil).status)

		audit := e.do("GET", "/v1/audit-events?limit=500", e.manager, nil)
		require.Equal(t, http.StatusOK, audit.status)
		for _, item := range audit.json["data"].([]any) {
			assert.Equal(t, "org_1", item.(map[string]any)["owner_id"])
		}
		assert.Equal(t, http.StatusForbidden, e.do("GET", "/v1/audit-events?owner_id=org_2", e.manager, nil).status)

		all := e.do("GET", "/v1/api-keys?owner_id=org_2", e.service, nil)
		require.Equal(t, http.StatusOK, all.status)
		assert.Len(t, all.json["data"], 2, "the service key sees org_2's keys")
	})
}

func TestAuthentication(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		a := e.do("GET", "/v1/api-keys", "", nil)
		assert.Equal(t, http.StatusUnauthorized, a.status)
		assert.Equal(t, "unauthorized", a.errCode(), "the middleware's shape")
		assert.NotEmpty(t, a.header.Get("Www-Authenticate"))

		a = e.do("GET", "/v1/api-keys", "sk_live_0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefg2LOcWk", nil)
		assert.Equal(t, http.StatusUnauthorized, a.status)

		none := e.issue(apikey.CreateParams{OwnerID: "org_1", Scopes: []string{"webhooks:read"}})
		for _, tc := range []struct {
			key, method, path string
			status            int
		}{
			{none, "GET", "/v1/api-keys", 403},
			{none, "GET", "/v1/audit-events", 403},
			{e.reader, "GET", "/v1/api-keys", 200},
			{e.reader, "GET", "/v1/audit-events", 200},
			{e.reader, "POST", "/v1/api-keys", 403},
			{e.reader, "DELETE", "/v1/api-keys/x", 403},
			{e.manager, "GET", "/v1/api-keys", 200}, // manage covers read
		} {
			var body any
			if tc.method == "POST" {
				body = map[string]any{"name": "x"}
			}
			a := e.do(tc.method, tc.path, tc.key, body)
			assert.Equal(t, tc.status, a.status, "%s %s: %s", tc.method, tc.path, a.body)
		}
	})
}

func TestListKeys(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		var created []string
		for i := range 5 {
			created = append(created, e.mustCreate(map[string]any{"name": "k" + string(rune('a'+i))}).str("id"))
		}
		// Pages of two, following next_cursor.
		var seen []string
		path := "/v1/api-keys?limit=2"
		for range 10 {
			a := e.do("GET", path, e.reader, nil)
			require.Equal(t, http.StatusOK, a.status, a.body)
			for _, item := range a.json["data"].([]any) {
				seen = append(seen, item.(map[string]any)["id"].(string))
				assert.NotContains(t, item, "key")
			}
			next, ok := a.json["next_cursor"].(string)
			if !ok {
				assert.Nil(t, a.json["next_cursor"])
				break
			}
			path = "/v1/api-keys?limit=2&cursor=" + next
		}
		assert.Len(t, seen, 7, "manager, reader and five more")
		assert.Subset(t, seen, created)

		_, err := e.m.Disable(context.Background(), created[1])
		require.NoError(t, err)
		require.NoError(t, e.m.Revoke(context.Background(), created[2]))
		count := func(query string) int {
			a := e.do("GET", "/v1/api-keys?"+query, e.reader, nil)
			require.Equal(t, http.StatusOK, a.status, a.body)
			return len(a.json["data"].([]any))
		}
		assert.Equal(t, 1, count("status=disabled"))
		assert.Equal(t, 1, count("status=revoked"))
		assert.Equal(t, 5, count("status=active"))
		assert.Equal(t, 6, count(""))
		assert.Equal(t, 7, count("status=all"))
		assert.Equal(t, 0, count("status=expired"))
		assert.Equal(t, 6, count("unused_since="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339)))
		assert.Equal(t, 0, count("expiring_before=2099-01-01T00:00:00Z"))

		for _, q := range []string{"status=sleeping", "limit=0", "limit=501", "limit=x", "cursor=" + strings.Repeat("c", 300),
			"expiring_before=soon", "unused_since=1", "colour=red", "limit=1&limit=2", "status=%zz"} {
			a := e.do("GET", "/v1/api-keys?"+q, e.reader, nil)
			assert.Equal(t, http.StatusBadRequest, a.status, "%s: %s", q, a.body)
			assert.Equal(t, "invalid_request", a.errCode(), q)
		}
	})
}

func TestUpdateKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		created := e.mustCreate(map[string]any{"name": "old", "metadata": map[string]string{"a": "1"}})
		id, secret := created.str("id"), created.str("key")
		a := e.do("PATCH", "/v1/api-keys/"+id, e.manager, map[string]any{"name": "new", "metadata": map[string]string{"b": "2"}})
		require.Equal(t, http.StatusOK, a.status, a.body)
		assert.Equal(t, "new", a.str("name"))
		assert.Equal(t, map[string]any{"b": "2"}, a.json["metadata"])

		a = e.do("PATCH", "/v1/api-keys/"+id, e.manager, map[string]any{"disabled": true, "metadata": map[string]string{}})
		require.Equal(t, http.StatusOK, a.status, a.body)
		assert.Equal(t, "disabled", a.str("status"))
		assert.Equal(t, map[string]any{}, a.json["metadata"], "{} clears")
		_, err := e.m.Verify(context.Background(), secret)
		require.ErrorIs(t, err, apikey.ErrDisabled)

		a = e.do("PATCH", "/v1/api-keys/"+id, e.manager, map[string]any{"disabled": false})
		require.Equal(t, http.StatusOK, a.status, a.body)
		assert.Equal(t, "active", a.str("status"))

		for _, tc := range []struct {
			body  any
			field string
		}{
			{map[string]any{"name": ""}, "name"},
			{map[string]any{"disabled": "yes"}, "disabled"},
			{map[string]any{"scopes": []string{"*"}}, `"scopes"`},
			{`{`, "body"},
		} {
			a := e.do("PATCH", "/v1/api-keys/"+id, e.manager, tc.body)
			require.Equal(t, http.StatusBadRequest, a.status, a.body)
			assert.True(t, strings.HasPrefix(a.errMessage(), tc.field+":"), a.errMessage())
		}
		require.NoError(t, e.m.Revoke(context.Background(), id))
		a = e.do("PATCH", "/v1/api-keys/"+id, e.manager, map[string]any{"name": "x"})
		assert.Equal(t, http.StatusNotFound, a.status, "a revoked key cannot change")
		e.noLeaks()
	})
}

func TestRevokeKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		created := e.mustCreate(map[string]any{"name": "gone"})
		id := created.str("id")
		a := e.do("DELETE", "/v1/api-keys/"+id, e.manager, nil)
		require.Equal(t, http.StatusOK, a.status, a.body)
		assert.Equal(t, "revoked", a.str("status"))
		assert.NotNil(t, a.json["revoked_at"])
		_, err := e.m.Verify(context.Background(), created.str("key"))
		require.ErrorIs(t, err, apikey.ErrRevoked)

		a = e.do("DELETE", "/v1/api-keys/"+id, e.manager, nil)
		assert.Equal(t, http.StatusNotFound, a.status, "already revoked")
		assert.Equal(t, "not_found", a.errCode())
		assert.Equal(t, http.StatusNotFound, e.do("DELETE", "/v1/api-keys/nope", e.manager, nil).status)
		e.noLeaks()
	})
}

func TestRotateKey(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		created := e.mustCreate(map[string]any{"name": "rolling", "scopes": []string{"webhooks:read"}, "expires_in_days": 30})
		id, oldSecret := created.str("id"), created.str("key")
		a := e.do("POST", "/v1/api-keys/"+id+"/rotate", e.manager, map[string]any{"grace_period_seconds": 3600})
		require.Equal(t, http.StatusCreated, a.status, a.body)
		assert.Equal(t, "no-store", a.header.Get("Cache-Control"))
		assert.Equal(t, id, a.str("rotated_from_id"))
		assert.Equal(t, "rolling", a.str("name"))
		newSecret := a.str("key")
		assert.NotEqual(t, oldSecret, newSecret)
		for _, s := range []string{oldSecret, newSecret} {
			_, err := e.m.Verify(context.Background(), s, "webhooks:read")
			require.NoError(t, err, "both work during the grace period")
		}
		old := e.do("GET", "/v1/api-keys/"+id, e.reader, nil)
		assert.Equal(t, a.str("id"), old.str("rotated_to_id"))

		again := e.do("POST", "/v1/api-keys/"+id+"/rotate", e.manager, nil)
		assert.Equal(t, http.StatusConflict, again.status, again.body)
		assert.Equal(t, "conflict", again.errCode())

		// No body means no grace: the old key stops at once.
		next := e.do("POST", "/v1/api-keys/"+a.str("id")+"/rotate", e.manager, nil)
		require.Equal(t, http.StatusCreated, next.status, next.body)
		_, err := e.m.Verify(context.Background(), newSecret)
		require.ErrorIs(t, err, apikey.ErrExpired)

		for _, body := range []any{
			map[string]any{"grace_period_seconds": -1},
			map[string]any{"grace_period_seconds": 2592001},
			map[string]any{"grace_period_seconds": "1h"},
			map[string]any{"grace": 1},
		} {
			a := e.do("POST", "/v1/api-keys/"+next.str("id")+"/rotate", e.manager, body)
			require.Equal(t, http.StatusBadRequest, a.status, a.body)
		}
		e.noLeaks()
	})
}

func TestRoutingErrors(t *testing.T) {
	eachBackend(t, func(t *testing.T, e *env) {
		a := e.do("PUT", "/v1/api-keys", e.manager, nil)
		assert.Equal(t, http.StatusMethodNotAllowed, a.status)
		assert.Equal(t, "GET, POST", a.header.Get("Allow"))
		assert.Equal(t, "method_not_allowed", a.errCode())
		a = e.do("GET", "/v1/api-keys/x/y/z", e.manager, nil)
		assert.Equal(t, http.StatusNotFound, a.status)
		assert.Equal(t, "not_found", a.errCode())
	})
}

func TestCreateLimitSeam(t *testing.T) {
	t.Parallel()
	var owners []string
	limit := func(_ context.Context, owner string) error {
		owners = append(owners, owner)
		switch len(owners) {
		case 1:
			return nil
		case 2:
			return retryLater{}
		}
		return errors.New("limiter down")
	}
	e := newEnv(t, memstore.New())
	e.h = e.mount(admin.WithCreateLimit(limit))
	e.mustCreate(map[string]any{"name": "first"})
	a := e.do("POST", "/v1/api-keys", e.manager, map[string]any{"name": "second"})
	require.Equal(t, http.StatusTooManyRequests, a.status, a.body)
	assert.Equal(t, "rate_limit_exceeded", a.errCode())
	assert.Equal(t, "60", a.header.Get("Retry-After"))
	assert.Equal(t, float64(60), a.json["error"].(map[string]any)["retry_after"])
	assert.Equal(t, "Rate limit exceeded. Retry after 60 seconds.", a.json["error"].(map[string]any)["message"], "as the middleware says it")
	a = e.do("POST", "/v1/api-keys", e.manager, map[string]any{"name": "third"})
	assert.Equal(t, http.StatusServiceUnavailable, a.status, a.body)
	assert.Equal(t, []string{"org_1", "org_1", "org_1"}, owners)
}

type retryLater struct{}

func (retryLater) Error() string             { return "too many keys" }
func (retryLater) Is(err error) bool         { return err == apikey.ErrRateLimited }
func (retryLater) RetryAfter() time.Duration { return time.Minute }
