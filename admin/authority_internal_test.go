package admin

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
)

// authorize is a pure function of the caller and the key: every rule, one
// row at a time.
func TestAuthorizeRules(t *testing.T) {
	t.Parallel()
	exact := func(held []string, scope string) bool { return slices.Contains(held, scope) }
	soon := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	quota := &apikey.Quota{Limit: 10, Refill: apikey.RefillDaily}
	caller := Principal{ActorType: audit.ActorAPIKey, ActorID: "k1", Scopes: []string{"a", "b"}, Plan: "free"}
	for _, tc := range []struct {
		name  string
		p     func(p *Principal)
		s     keySpec
		field string // "" when allowed
	}{
		{"its own scopes and plan", nil, keySpec{Scopes: []string{"a"}, Plan: "free"}, ""},
		{"a scope it lacks", nil, keySpec{Scopes: []string{"c"}, Plan: "free"}, "scopes"},
		{"an invalid scope is the Manager's to refuse", nil, keySpec{Scopes: []string{"a b"}, Plan: "free"}, ""},
		{"another plan", nil, keySpec{Plan: "pro"}, "plan"},
		{"no plan", nil, keySpec{}, "plan"},
		{"another rate limit", nil, keySpec{Plan: "free", RateLimit: apikey.PerSecond(1)}, "rate_limit"},
		{"a quota", nil, keySpec{Plan: "free", Quota: quota}, "quota"},
		{"a metered caller, an unmetered key", func(p *Principal) { p.Metered = true }, keySpec{Plan: "free"}, "quota"},
		{"a metered caller, its own budget", func(p *Principal) { p.Metered = true }, keySpec{Plan: "free", Quota: quota, OwnBudget: true}, ""},
		{"a test caller, a live key", func(p *Principal) { p.Environment = apikey.EnvTest }, keySpec{Plan: "free", Environment: apikey.EnvLive}, "environment"},
		{"a test caller, a test key", func(p *Principal) { p.Environment = apikey.EnvTest }, keySpec{Plan: "free", Environment: apikey.EnvTest}, ""},
		{"an expiring caller, a key that never expires", func(p *Principal) { p.ExpiresAt = soon }, keySpec{Plan: "free"}, "expires_at"},
		{"an expiring caller, a key that outlives it", func(p *Principal) { p.ExpiresAt = soon }, keySpec{Plan: "free", ExpiresAt: soon.Add(time.Microsecond)}, "expires_at"},
		{"an expiring caller, a key that does not", func(p *Principal) { p.ExpiresAt = soon }, keySpec{Plan: "free", ExpiresAt: soon}, ""},
		{"an administrator, anything", func(p *Principal) { p.AnyScope, p.Metered, p.ExpiresAt = true, true, soon },
			keySpec{Scopes: []string{"z"}, Plan: "pro", RateLimit: apikey.PerSecond(1), Quota: quota}, ""},
	} {
		p := caller
		p.Scopes = slices.Clone(caller.Scopes)
		if tc.p != nil {
			tc.p(&p)
		}
		e := authorize(&p, tc.s, exact)
		switch {
		case tc.field == "" && e != nil:
			t.Errorf("%s: refused: %s", tc.name, e.message)
		case tc.field != "" && e == nil:
			t.Errorf("%s: allowed", tc.name)
		case e != nil && (e.status != 403 || !strings.HasPrefix(e.message, tc.field+":")):
			t.Errorf("%s: %d %q, want 403 naming %s", tc.name, e.status, e.message, tc.field)
		}
	}
}
