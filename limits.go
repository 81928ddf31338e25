package apikey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"
)

// limitPolicy is the Manager's resolved rate-limit configuration.
type limitPolicy struct {
	limiter  Limiter
	local    *localLimiter // limiter, when it is the local one: called directly, without allocating
	keyLimit Limit
	plans    map[string]plan
	owner    func(ownerID string) string
	failOpen bool
	logger   *slog.Logger

	// The limiter's clock: time.Now is costly on some machines, so with the
	// default clock the time is start plus the monotonic time since.
	now          func() time.Time
	defaultClock bool
	start        time.Time
}

// plan is a named limit with its Decision.Policy names, built once so that
// a decision never allocates a name.
type plan struct {
	limit     Limit
	keyName   string // "plan:team"
	ownerName string // "owner:team"
}

// Policy names for Decision.Policy.
const (
	policyKey   = "key"
	policyOwner = "owner"
)

func (c *config) limitPolicy() (limitPolicy, error) {
	p := limitPolicy{limiter: c.limiter, keyLimit: c.keyLimit, owner: c.ownerPlan, failOpen: c.limiterOpen,
		logger: c.logger, now: c.clock}
	if err := c.keyLimit.validate("key_limit"); err != nil {
		return p, err
	}
	p.plans = make(map[string]plan, len(c.plans))
	for name, l := range c.plans {
		if name == "" || l.isZero() {
			return p, paramErr("plans", "plans need a name and a limit")
		}
		if err := l.validate("plans"); err != nil {
			return p, err
		}
		p.plans[name] = plan{limit: l, keyName: "plan:" + name, ownerName: "owner:" + name}
	}
	if p.limiter == nil {
		p.limiter = newLocalLimiter(0)
	}
	p.local, _ = p.limiter.(*localLimiter)
	p.defaultClock = !c.clockSet // the cheap path is only for time.Now
	p.start = time.Now()
	return p, nil
}

// validate checks a key's plan and own limit at Create.
func (p *limitPolicy) validate(planName string, own Limit) error {
	if planName != "" {
		if _, ok := p.plans[planName]; !ok {
			return paramErr("plan", "unknown plan")
		}
	}
	return own.validate("rate_limit")
}

func (p *limitPolicy) clock() time.Time {
	if p.defaultClock {
		return p.start.Add(time.Since(p.start))
	}
	return p.now()
}

// forKey returns the limit of rec and the name its Decision reports: the
// key's own, else its plan's, else the default.
func (p *limitPolicy) forKey(rec *Record) (Limit, string) {
	switch {
	case !rec.RateLimit.isZero():
		return rec.RateLimit, policyKey
	case rec.Plan != "":
		if pl, ok := p.plans[rec.Plan]; ok {
			return pl.limit, pl.keyName
		}
	}
	return p.keyLimit, policyKey
}

// Allow takes from limits of the caller's own, through this Manager's
// limiter, its clock and its fail-open setting: e.g. a per-owner limit on
// creating keys. It returns a *RateLimitError when refused.
func (m *Manager) Allow(ctx context.Context, reqs ...LimitRequest) (Decision, error) {
	for _, r := range reqs {
		if err := r.Limit.validate("limit"); err != nil || r.Limit.isZero() {
			return Decision{}, paramErr("limit", "every request needs a valid limit")
		}
	}
	return m.limits.decide(ctx, reqs)
}

// decide asks the limiter about reqs: a *RateLimitError when refused,
// ErrStoreUnavailable when the limiter fails (unless it fails open).
func (p *limitPolicy) decide(ctx context.Context, reqs []LimitRequest) (Decision, error) {
	reqs = mergeDuplicates(reqs)
	now := p.clock()
	var d Decision
	if p.local != nil {
		d = p.local.allow(now, reqs)
	} else {
		var err error
		// A copy: handing the caller's stack array to an interface would
		// move it to the heap on every call, local limiter or not.
		if d, err = p.limiter.Allow(ctx, now, slices.Clone(reqs)); err != nil {
			if p.failOpen {
				p.logger.LogAttrs(ctx, slog.LevelWarn, "apikey: rate limiter failed; letting the request through (fail open)",
					slog.String("error", err.Error()))
				return Decision{Allowed: true, failedOpen: true}, nil
			}
			return Decision{}, fmt.Errorf("%w: rate limiter: %w", ErrStoreUnavailable, err)
		}
	}
	if !d.Allowed {
		return d, &RateLimitError{Decision: d}
	}
	return d, nil
}

// refund gives back what an allowed decide(ctx, reqs) took, best effort:
// a failure is logged, never returned (the request is refused anyway).
func (p *limitPolicy) refund(ctx context.Context, reqs []LimitRequest) {
	if len(reqs) == 0 {
		return
	}
	reqs = mergeDuplicates(reqs)
	now := p.clock()
	if p.local != nil {
		p.local.refund(now, reqs)
		return
	}
	if err := p.limiter.Refund(ctx, now, slices.Clone(reqs)); err != nil {
		p.logger.LogAttrs(ctx, slog.LevelWarn, "apikey: rate limiter could not refund a refused request; its cost stays taken",
			slog.String("error", err.Error()))
	}
}

// mergeDuplicates returns reqs with requests for one bucket combined (their
// costs added), so that a bucket is never checked twice against the same
// tokens. Without duplicates, the common case, it returns reqs itself.
func mergeDuplicates(reqs []LimitRequest) []LimitRequest {
	dup := false
	for i := 1; i < len(reqs) && !dup; i++ {
		for j := range i {
			if reqs[i].Key == reqs[j].Key {
				dup = true
				break
			}
		}
	}
	if !dup {
		return reqs
	}
	merged := make([]LimitRequest, 0, len(reqs))
next:
	for _, r := range reqs {
		for i := range merged {
			if merged[i].Key == r.Key {
				merged[i].Cost = max(merged[i].Cost, 1) + max(r.Cost, 1)
				continue next
			}
		}
		merged = append(merged, r)
	}
	return merged
}

// limitRequests appends to reqs the requests of every limit that applies
// to rec (key or plan, owner), each of cost, then route's.
func (m *Manager) limitRequests(reqs []LimitRequest, rec *Record, cost int, route []LimitRequest) []LimitRequest {
	p := &m.limits
	if l, name := p.forKey(rec); !l.isZero() {
		reqs = append(reqs, LimitRequest{Key: LimitKey{policyKey, rec.ID}, Limit: l, Cost: cost, Name: name})
	}
	if p.owner != nil && rec.OwnerID != "" {
		if pl, ok := p.plans[p.owner(rec.OwnerID)]; ok {
			reqs = append(reqs, LimitRequest{Key: LimitKey{policyOwner, rec.OwnerID}, Limit: pl.limit, Cost: cost, Name: pl.ownerName})
		}
	}
	return append(reqs, route...)
}

// charge takes cost from every limit that applies to rec and from route's
// limits, all or none, then from rec's quota; if the quota refuses, the
// limits are given back, so that a refused request takes nothing. It
// returns the tightest Decision and the quota period taken from (for
// refundCharge). It does not allocate when allowed.
func (m *Manager) charge(ctx context.Context, rec *Record, cost int, route []LimitRequest) (Decision, time.Time, error) {
	var buf [4]LimitRequest
	reqs := m.limitRequests(buf[:0], rec, cost, route)
	d := Decision{Allowed: true}
	if len(reqs) > 0 {
		var err error
		if d, err = m.limits.decide(ctx, reqs); err != nil {
			return d, time.Time{}, &KeyError{KeyID: rec.ID, Err: err}
		}
	}
	if rec.Quota == nil {
		return d, time.Time{}, nil
	}
	period, err := m.consumeQuota(ctx, rec, cost)
	if err != nil {
		if len(reqs) > 0 && !d.failedOpen {
			m.limits.refund(context.WithoutCancel(ctx), reqs)
		}
		var rle *RateLimitError
		if errors.As(err, &rle) {
			d = rle.Decision
		}
		return d, time.Time{}, err
	}
	return d, period, nil
}

// refundCharge gives back what charge took for rec with cost and route,
// its quota in period: for a request a gate downstream refused. Best
// effort: failures are logged. d is charge's Decision: a limiter that
// failed open took nothing, and is given nothing back.
func (m *Manager) refundCharge(ctx context.Context, rec *Record, cost int, route []LimitRequest, d Decision, period time.Time) {
	ctx = context.WithoutCancel(ctx) // the client may be gone; the budget is still owed
	reqs := m.limitRequests(nil, rec, cost, route)
	if len(reqs) > 0 && !d.failedOpen {
		m.limits.refund(ctx, reqs)
	}
	if rec.Quota != nil {
		m.refundQuota(ctx, rec, cost, period)
	}
}
