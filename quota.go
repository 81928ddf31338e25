package apikey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Quotas: a key's usage budget (Unkey's "remaining" credits), kept in the
// store so a restart does not reset it. Each successful request takes its
// cost (1, or the middleware's Cost); when too little is left the key
// is refused with 429 quota_exceeded until the next refill. Unlike rate
// limits, a quota is a store write on every request of a key that has one.

// Refill is how often a quota is refilled to its limit, in UTC calendar
// periods.
type Refill string

const (
	RefillNever   Refill = ""      // a one-off budget
	RefillDaily   Refill = "day"   // at 00:00 UTC
	RefillMonthly Refill = "month" // on the 1st, 00:00 UTC
)

// Quota is a key's usage budget.
type Quota struct {
	Limit int64 `json:"limit"` // credits per period, or in all when Refill is RefillNever
	// Remaining is the count as last read: Get shows what the store holds.
	Remaining int64  `json:"remaining"`
	Refill    Refill `json:"refill,omitempty"`
	// PeriodStart is when the current period began (zero without refill).
	PeriodStart time.Time `json:"period_start,omitzero"`
}

func (q *Quota) validate() error {
	if q == nil {
		return nil
	}
	if q.Limit <= 0 {
		return paramErr("quota", "limit must be positive")
	}
	switch q.Refill {
	case RefillNever, RefillDaily, RefillMonthly:
		return nil
	}
	return paramErr("quota", `refill must be "", "day" or "month"`)
}

// periodStart is the start of the period containing now (zero for never).
func (r Refill) periodStart(now time.Time) time.Time {
	now = now.UTC()
	switch r {
	case RefillDaily:
		return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	case RefillMonthly:
		return time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	}
	return time.Time{}
}

// next is the start of the period after the one starting at start.
func (r Refill) next(start time.Time) time.Time {
	switch r {
	case RefillDaily:
		return start.AddDate(0, 0, 1)
	case RefillMonthly:
		return start.AddDate(0, 1, 0)
	}
	return time.Time{}
}

// newQuota is the quota a new key starts with: full, in the current period.
func newQuota(q *Quota, now time.Time) *Quota {
	if q == nil {
		return nil
	}
	return &Quota{Limit: q.Limit, Remaining: q.Limit, Refill: q.Refill, PeriodStart: q.Refill.periodStart(now)}
}

// policyQuota is Decision.Policy for a refusal by the quota.
const policyQuota = "quota"

// consumeQuota takes cost from rec's budget in the store, after its rate
// limits allowed the request, and returns the start of the period it
// charged (for refundQuota). The store finds the budget: rec's own quota,
// or the newest key's of its rotation chain.
func (m *Manager) consumeQuota(ctx context.Context, rec *Record, cost int) (period time.Time, err error) {
	q := rec.Quota
	now := m.now().UTC()
	start := q.Refill.periodStart(now)
	// A write on the request path: bounded like the lookup, whatever the
	// caller's deadline.
	qctx, cancel := context.WithTimeout(ctx, m.storeTimeout)
	defer cancel()
	remaining, err := m.store.ConsumeQuota(qctx, rec.ID, int64(max(cost, 1)), start)
	switch {
	case err == nil:
		return start, nil
	case errors.Is(err, ErrQuotaExceeded):
		d := Decision{Policy: policyQuota, Limit: int(min(q.Limit, int64(^uint(0)>>1))), Remaining: int(max(remaining, 0))}
		if q.Refill != RefillNever {
			d.Reset = q.Refill.next(start)
			d.RetryAfter = d.Reset.Sub(now)
		}
		return time.Time{}, &KeyError{KeyID: rec.ID, Err: &RateLimitError{Decision: d, Quota: true}}
	case errors.Is(err, ErrNotFound):
		// Revoked or deleted since it was read: refuse like the record says.
		return time.Time{}, &KeyError{KeyID: rec.ID, Err: ErrRevoked}
	}
	return time.Time{}, fmt.Errorf("%w: quota: %w", ErrStoreUnavailable, err)
}

// refundQuota gives back what consumeQuota took in period, for a request
// refused after its quota was charged. Best effort: bounded by the store
// timeout whatever the caller's context, and a failure is logged, never
// returned (the request is refused either way).
func (m *Manager) refundQuota(ctx context.Context, rec *Record, cost int, period time.Time) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.storeTimeout)
	defer cancel()
	err := m.store.RefundQuota(rctx, rec.ID, int64(max(cost, 1)), period)
	if err != nil && !errors.Is(err, ErrNotFound) { // not found: revoked since, nothing to give back
		m.logger.LogAttrs(ctx, slog.LevelWarn, "apikey: refunding a refused request's quota failed",
			slog.String("key_id", rec.ID), slog.String("error", err.Error()))
	}
}
