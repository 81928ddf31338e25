package admin

import (
	"net/http"
	"slices"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
)

// Principal is who calls the handler and what they may do.
type Principal struct {
	// ActorType and ActorID name the caller in the audit log:
	// audit.ActorAPIKey and the key's ID, or audit.ActorUser (the
	// default when empty) and the host's user ID.
	ActorType string
	ActorID   string
	// OwnerID is the owner whose keys the caller manages; every key it
	// creates belongs to it. Required unless AllOwners.
	OwnerID string
	// AllOwners lets the caller see and manage every owner's keys and
	// create keys for any owner (owner_id in the request).
	AllOwners bool
	// Scopes are the scopes the caller holds: it needs api_keys:manage
	// (api_keys:read for reading), and may grant only these, under the
	// Manager's wildcards and implications. A caller that is not an
	// administrator may change, rotate or revoke only keys it could have
	// created itself: within its scopes, environment, lifetime, plan, rate
	// limit and quota rules; other keys of its owner answer 403.
	Scopes []string
	// AnyScope lets the caller manage and read keys, grant any scope and
	// act on any key of the owners it manages, whatever Scopes says: an
	// administrator.
	AnyScope bool
	// Environment, when set, is the only environment of the keys the
	// caller may create, rotate or change ("test" for a test key).
	Environment string
	// ExpiresAt, when set, is a time no key the caller creates, rotates or
	// changes may outlive.
	ExpiresAt time.Time
	// Plan and RateLimit are what keys the caller creates get, unless it is
	// an administrator (AnyScope), who may set them per key; it may rotate
	// or change only keys with the same. Only an administrator gives keys a
	// quota, or acts on keys with one; Metered callers (a key with a quota)
	// may not create, rotate or change keys but themselves, since each new
	// key would bring a new budget.
	Plan      string
	RateLimit apikey.Limit
	Metered   bool
}

// Authorizer authenticates a request with the host's own means and returns
// its principal. An error, or a nil principal, answers 401; the error is
// logged, never shown.
type Authorizer func(r *http.Request) (*Principal, error)

// KeyPrincipal is the principal of an API key, as the default
// authentication sees it: the key's owner (every owner for a key without
// one), its scopes, its environment when it is a test key, and its expiry.
func KeyPrincipal(k *apikey.Key) *Principal {
	p := &Principal{
		ActorType: audit.ActorAPIKey,
		ActorID:   k.ID,
		OwnerID:   k.OwnerID,
		AllOwners: k.OwnerID == "",
		Scopes:    slices.Clone(k.Scopes),
		ExpiresAt: k.ExpiresAt,
		Plan:      k.Plan,
		RateLimit: k.RateLimit,
		Metered:   k.Quota != nil,
	}
	if k.Environment == apikey.EnvTest {
		p.Environment = apikey.EnvTest
	}
	return p
}

// holds reports whether p holds every one of scopes.
func (h *handler) holds(p *Principal, scopes ...string) bool {
	return p.AnyScope || h.m.HasScopes(&apikey.Key{Scopes: p.Scopes}, scopes...)
}

// mayAccess reports whether p may use a route: manage routes need
// api_keys:manage, read routes either scope.
func (h *handler) mayAccess(p *Principal, manage bool) bool {
	if manage {
		return h.holds(p, ScopeManage)
	}
	return p.AnyScope || h.m.HasAnyScope(&apikey.Key{Scopes: p.Scopes}, ScopeRead, ScopeManage)
}

// owns reports whether p may see key k. Keys of other owners are answered
// as unknown ones.
func (p *Principal) owns(k *apikey.Key) bool { return p.AllOwners || k.OwnerID == p.OwnerID }
