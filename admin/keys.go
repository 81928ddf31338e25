package admin

import (
	"errors"
	"net/http"
	"time"

	"github.com/keyward/apikey"
)

const (
	maxExpiresInDays = 36500
	maxGraceSeconds  = 30 * 24 * 60 * 60 // 30 days
)

type createRequest struct {
	Name          string            `json:"name"`
	OwnerID       *string           `json:"owner_id"`
	Scopes        []string          `json:"scopes"`
	Environment   string            `json:"environment"`
	ExpiresAt     *string           `json:"expires_at"`
	ExpiresInDays *int              `json:"expires_in_days"`
	Metadata      map[string]string `json:"metadata"`
	Plan          *string           `json:"plan"`
	RateLimit     *limitJSON        `json:"rate_limit"`
	Quota         *quotaJSON        `json:"quota"`
}

func (h *handler) createKey(w http.ResponseWriter, r *http.Request, p *Principal) {
	var req createRequest
	if e := h.decode(w, r, &req, false); e != nil {
		h.write(w, r, e)
		return
	}
	now := h.cfg.clock()
	expires, e := requestedExpiry(req, now)
	if e != nil {
		h.write(w, r, e)
		return
	}
	if expires.IsZero() && !p.ExpiresAt.IsZero() {
		// Not asked for: as long as the caller lives, within the Manager's cap.
		// (A caller already expired asks for a past expiry: Create refuses it.)
		expires = p.ExpiresAt
		if d := p.ExpiresAt.Sub(now); d > 0 {
			expires = h.m.Expiry(now, d)
		}
	}
	owner := p.OwnerID
	if req.OwnerID != nil {
		if !p.AllOwners && *req.OwnerID != p.OwnerID {
			h.write(w, r, forbidden("owner_id: the caller may only create keys of its own owner"))
			return
		}
		owner = *req.OwnerID
	}
	env := req.Environment
	if env == "" {
		env = apikey.EnvLive
		if p.Environment != "" {
			env = p.Environment
		}
	}
	plan, limit, quota, e := requestedLimits(req, p)
	if e != nil {
		h.write(w, r, e)
		return
	}
	if e := h.authorize(p, keySpec{Scopes: req.Scopes, Environment: env, ExpiresAt: expires,
		Plan: plan, RateLimit: limit, Quota: quota}); e != nil {
		h.write(w, r, e)
		return
	}
	if e := h.limitCreate(r, owner); e != nil {
		h.write(w, r, e)
		return
	}
	k, secret, err := h.m.Create(r.Context(), apikey.CreateParams{
		Name: req.Name, OwnerID: owner, Environment: env, Scopes: req.Scopes, ExpiresAt: expires, Metadata: req.Metadata,
		Plan: plan, RateLimit: limit, Quota: quota,
	})
	h.reply(w, r, k, secret, err)
}

// requestedExpiry reads expires_at or expires_in_days; zero when neither.
func requestedExpiry(req createRequest, now time.Time) (time.Time, *apiError) {
	switch {
	case req.ExpiresAt != nil && req.ExpiresInDays != nil:
		return time.Time{}, badRequest("expires_at: give expires_at or expires_in_days, not both")
	case req.ExpiresAt != nil:
		t, err := time.Parse(time.RFC3339Nano, *req.ExpiresAt)
		if err != nil {
			return time.Time{}, badRequest("expires_at: must be an RFC 3339 time")
		}
		if !t.After(now) {
			// The zero instant too, which would otherwise mean "never".
			return time.Time{}, badRequest("expires_at: must be in the future")
		}
		return t.UTC(), nil
	case req.ExpiresInDays != nil:
		d := *req.ExpiresInDays
		if d < 1 || d > maxExpiresInDays {
			return time.Time{}, badRequest("expires_in_days: must be 1 to 36500")
		}
		return now.Add(time.Duration(d) * 24 * time.Hour), nil
	}
	return time.Time{}, nil
}

// limitCreate asks the create limit, if any, whether owner may have one
// more key.
func (h *handler) limitCreate(r *http.Request, owner string) *apiError {
	if h.cfg.createLimit == nil {
		return nil
	}
	err := h.cfg.createLimit(r.Context(), owner)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, apikey.ErrRateLimited):
		return fromError(err)
	}
	return &apiError{status: 503, code: "service_unavailable", message: "The create limit is temporarily unavailable", cause: err}
}

func (h *handler) listKeys(w http.ResponseWriter, r *http.Request, p *Principal) {
	opts, limit, e := listOptions(r, p)
	if e != nil {
		h.write(w, r, e)
		return
	}
	opts.Limit = limit + 1 // one more tells whether there is a next page
	keys, err := h.m.List(r.Context(), opts)
	if err != nil {
		h.write(w, r, fromError(err))
		return
	}
	respond(w, http.StatusOK, paginate(keys, limit, func(k *apikey.Key) string { return k.ID }, h.view))
}

func listOptions(r *http.Request, p *Principal) (opts apikey.ListOptions, limit int, e *apiError) {
	q, e := queryOf(r, "status", "limit", "cursor", "owner_id", "expiring_before", "unused_since")
	if e != nil {
		return opts, 0, e
	}
	switch s := q.get("status"); s {
	case "":
	case "all":
		opts.IncludeRevoked = true
	case string(apikey.StatusActive), string(apikey.StatusRevoked), string(apikey.StatusExpired), string(apikey.StatusDisabled):
		opts.Status = apikey.Status(s)
	default:
		return opts, 0, badRequest("status: must be active, revoked, expired, disabled or all")
	}
	if opts.OwnerID, e = ownerFilter(q, p); e == nil {
		if limit, e = q.limit(); e == nil {
			if opts.After, e = q.cursor(); e == nil {
				if opts.ExpiringBefore, e = q.time("expiring_before"); e == nil {
					opts.UnusedSince, e = q.time("unused_since")
				}
			}
		}
	}
	return opts, limit, e
}

// ownerFilter is the owner a list is limited to: the caller's, or for a
// caller of every owner the one asked for (empty: all).
func ownerFilter(q query, p *Principal) (string, *apiError) {
	owner, asked := q.lookup("owner_id")
	switch {
	case !asked && !p.AllOwners:
		return p.OwnerID, nil
	case asked && !p.AllOwners && owner != p.OwnerID:
		return "", forbidden("owner_id: the caller may only see its own owner's keys and events")
	}
	return owner, nil
}

// owned returns the key of the path's id if the caller may see it;
// otherwise it answers 404, as for an unknown key.
func (h *handler) owned(w http.ResponseWriter, r *http.Request, p *Principal) (*apikey.Key, bool) {
	k, err := h.m.Get(r.Context(), r.PathValue("id"))
	if err == nil && !p.owns(k) {
		err = apikey.ErrNotFound
	}
	if err != nil {
		h.write(w, r, fromError(err))
		return nil, false
	}
	return k, true
}

// ownedToActOn is owned, for a change: the caller must also be able to
// act on the key (see authorize), or it answers 403. The key is visible to
// the caller, so 404 would hide nothing.
func (h *handler) ownedToActOn(w http.ResponseWriter, r *http.Request, p *Principal) (*apikey.Key, bool) {
	k, ok := h.owned(w, r, p)
	if !ok {
		return nil, false
	}
	if e := h.mayActOn(p, k); e != nil {
		h.write(w, r, e)
		return nil, false
	}
	return k, true
}

func (h *handler) getKey(w http.ResponseWriter, r *http.Request, p *Principal) {
	if k, ok := h.owned(w, r, p); ok {
		h.reply(w, r, k, "", nil)
	}
}

type updateRequest struct {
	Name     *string           `json:"name"`
	Metadata map[string]string `json:"metadata"` // {} clears; null or absent leaves it
	Disabled *bool             `json:"disabled"`
}

func (h *handler) updateKey(w http.ResponseWriter, r *http.Request, p *Principal) {
	var req updateRequest
	if e := h.decode(w, r, &req, false); e != nil {
		h.write(w, r, e)
		return
	}
	k, ok := h.ownedToActOn(w, r, p)
	if !ok {
		return
	}
	k, err := h.m.Update(r.Context(), k.ID, apikey.UpdateParams{Name: req.Name, Metadata: req.Metadata, Disabled: req.Disabled})
	h.reply(w, r, k, "", err)
}

func (h *handler) revokeKey(w http.ResponseWriter, r *http.Request, p *Principal) {
	k, ok := h.ownedToActOn(w, r, p)
	if !ok {
		return
	}
	err := h.m.Revoke(r.Context(), k.ID)
	if err == nil {
		k, err = h.m.Get(r.Context(), k.ID)
	}
	h.reply(w, r, k, "", err)
}

type rotateRequest struct {
	GracePeriodSeconds *int64 `json:"grace_period_seconds"`
}

func (h *handler) rotateKey(w http.ResponseWriter, r *http.Request, p *Principal) {
	var req rotateRequest
	if e := h.decode(w, r, &req, true); e != nil {
		h.write(w, r, e)
		return
	}
	var grace time.Duration
	if g := req.GracePeriodSeconds; g != nil {
		if *g < 0 || *g > maxGraceSeconds {
			h.write(w, r, badRequest("grace_period_seconds: must be 0 to 2592000 (30 days)"))
			return
		}
		grace = time.Duration(*g) * time.Second
	}
	old, ok := h.owned(w, r, p)
	if !ok {
		return
	}
	// The successor gets the old key's scopes, environment, lifetime, plan,
	// rate limit and quota, and its key goes to the caller: the caller must
	// be able to issue it.
	next := specOf(p, old)
	next.ExpiresAt = h.successorExpiry(old)
	if e := h.authorize(p, next); e != nil {
		h.write(w, r, e)
		return
	}
	if e := h.limitCreate(r, old.OwnerID); e != nil {
		h.write(w, r, e)
		return
	}
	k, secret, err := h.m.Rotate(r.Context(), old.ID, grace)
	h.reply(w, r, k, secret, err)
}

// successorExpiry is when Manager.Rotate will make old's successor expire:
// the same lifetime from now, within the Manager's cap; zero for never.
func (h *handler) successorExpiry(old *apikey.Key) time.Time {
	var lifetime time.Duration
	if !old.ExpiresAt.IsZero() {
		lifetime = old.ExpiresAt.Sub(old.CreatedAt)
	}
	return h.m.Expiry(h.cfg.clock(), lifetime)
}

// limitJSON is a rate limit in requests per period_seconds.
type limitJSON struct {
	Requests      int     `json:"requests"`
	PeriodSeconds float64 `json:"period_seconds"`
	Burst         int     `json:"burst"`
}

// quotaJSON is a usage budget with an optional "day" or "month" refill.
type quotaJSON struct {
	Limit  int64  `json:"limit"`
	Refill string `json:"refill"`
}

// requestedLimits reads plan, rate_limit and quota. Only an administrator
// sets them; keys another caller creates take its plan and limit (and a
// caller with a quota creates none: see authorize).
func requestedLimits(req createRequest, p *Principal) (string, apikey.Limit, *apikey.Quota, *apiError) {
	if !p.AnyScope {
		switch {
		case req.Plan != nil:
			return "", apikey.Limit{}, nil, forbidden("plan: only an administrator sets rate limits and quotas")
		case req.RateLimit != nil:
			return "", apikey.Limit{}, nil, forbidden("rate_limit: only an administrator sets rate limits and quotas")
		case req.Quota != nil:
			return "", apikey.Limit{}, nil, forbidden("quota: only an administrator sets rate limits and quotas")
		}
		return p.Plan, p.RateLimit, nil, nil
	}
	var plan string
	var limit apikey.Limit
	var quota *apikey.Quota
	if req.Plan != nil {
		plan = *req.Plan
	}
	if l := req.RateLimit; l != nil {
		// The Manager validates it, as a 400 naming rate_limit.
		limit = apikey.Limit{Requests: l.Requests, Period: time.Duration(l.PeriodSeconds * float64(time.Second)), Burst: l.Burst}
	}
	if q := req.Quota; q != nil {
		quota = &apikey.Quota{Limit: q.Limit, Refill: apikey.Refill(q.Refill)}
	}
	return plan, limit, quota, nil
}
