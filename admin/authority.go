package admin

import (
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
	"github.com/keyward/apikey/internal/scope"
)

// keySpec is what a key grants: the key about to be issued (created, or a
// rotation's successor) or a key a caller would change. The rule set below
// reads nothing else.
type keySpec struct {
	Scopes      []string
	Environment string
	ExpiresAt   time.Time // zero: never
	Plan        string
	RateLimit   apikey.Limit
	Quota       *apikey.Quota // nil: no quota
	// OwnBudget says the quota is the caller's own, moving on (the caller
	// rotating or changing itself): no new budget.
	OwnBudget bool
}

// grantsFunc reports whether held grants scope under the Manager's
// wildcards and implications.
type grantsFunc func(held []string, scope string) bool

// authorize is the one rule set for every operation on behalf of p that
// issues a key or acts on one: p may issue a key of spec s, or act on a
// key of spec s, only if it could have created that key itself. An
// administrator (AnyScope) may; anyone else must hold every scope, keep to
// its environment and its lifetime, and have the key's plan and rate limit
// (the ones keys it creates get); a quota is an administrator's to grant,
// and a metered caller issues nothing, since each key would bring a new
// budget, but its own successor. It is pure so that it can move into the
// core.
func authorize(p *Principal, s keySpec, grants grantsFunc) *apiError {
	if p.AnyScope {
		return nil
	}
	for _, sc := range s.Scopes {
		// Invalid scopes are the Manager's to reject, as a 400 naming the field.
		if scope.Valid(sc) && !grants(p.Scopes, sc) {
			return forbidden("scopes: the caller does not hold every scope of the key")
		}
	}
	switch {
	case p.Environment != "" && s.Environment != p.Environment:
		return forbidden("environment: the caller may only issue and manage " + p.Environment + " keys")
	case !p.ExpiresAt.IsZero() && (s.ExpiresAt.IsZero() || s.ExpiresAt.After(p.ExpiresAt)):
		return forbidden("expires_at: a key may not outlive the caller")
	case s.Plan != p.Plan:
		return forbidden("plan: the key's plan is not the caller's; only an administrator sets or manages other plans")
	case s.RateLimit != p.RateLimit:
		return forbidden("rate_limit: the key's rate limit is not the caller's; only an administrator sets or manages other limits")
	case s.OwnBudget:
		return nil // its own budget, moving on or changed in name only
	case p.Metered:
		return forbidden("quota: a key with a quota cannot issue or manage other keys")
	case s.Quota != nil:
		return forbidden("quota: only an administrator issues or manages keys with a quota")
	}
	return nil
}

// specOf is the spec of an existing key k, as p would act on it.
func specOf(p *Principal, k *apikey.Key) keySpec {
	return keySpec{
		Scopes: k.Scopes, Environment: k.Environment, ExpiresAt: k.ExpiresAt,
		Plan: k.Plan, RateLimit: k.RateLimit, Quota: k.Quota, OwnBudget: p.isKey(k.ID),
	}
}

// isKey reports whether p is the API key id.
func (p *Principal) isKey(id string) bool {
	return p.ActorType == audit.ActorAPIKey && p.ActorID == id
}

// authorize applies the rule set with the Manager's scope rules.
func (h *handler) authorize(p *Principal, s keySpec) *apiError {
	return authorize(p, s, func(held []string, scope string) bool {
		return h.m.HasScopes(&apikey.Key{Scopes: held}, scope)
	})
}

// mayActOn checks that p may change, rotate or revoke k: that it could have
// created k itself.
func (h *handler) mayActOn(p *Principal, k *apikey.Key) *apiError {
	return h.authorize(p, specOf(p, k))
}
