package sqlstore

import (
	"context"
	"time"

	"github.com/keyward/apikey"
)

// refilledQuota is the quota a key has once a refill that is due has been
// applied: the limit when the key refills and its period started before
// the current one, else what remains.
const refilledQuota = "(CASE WHEN quota_refill <> '' AND quota_period_start < ? THEN quota_limit ELSE quota_remaining END)"

// ConsumeQuota implements apikey.Store: one conditional UPDATE refills and
// takes in the same statement, so concurrent requests, on any number of
// instances, never overdraw. (MySQL evaluates SET left to right: the new
// remaining count is computed before the period moves.)
func (s *Store) ConsumeQuota(ctx context.Context, id string, cost int64, periodStart time.Time) (int64, error) {
	var start int64
	if !periodStart.IsZero() {
		start = periodStart.UnixMicro()
	}
	update := s.dialect.rebind("UPDATE " + s.q.table + " SET quota_remaining = " + refilledQuota + " - ?, " +
		"quota_period_start = CASE WHEN quota_refill <> '' AND quota_period_start < ? THEN ? ELSE quota_period_start END " +
		"WHERE id = ? AND revoked_at IS NULL AND quota_limit IS NOT NULL AND " + refilledQuota + " >= ?")
	args := []any{start, cost, start, start, bin(id), start, cost}
	var remaining int64
	rec, err := s.change(ctx, "consume quota", id, update, args, func(rec *apikey.Record) error {
		q := rec.Quota
		if q == nil {
			return apikey.ErrNotFound
		}
		remaining = q.Remaining
		if q.Refill != apikey.RefillNever && q.PeriodStart.Before(periodStart) {
			remaining = q.Limit
		}
		return apikey.ErrQuotaExceeded
	}, nil)
	if err != nil {
		return remaining, err
	}
	return rec.Quota.Remaining, nil
}

// RefundQuota implements apikey.Store: one conditional UPDATE. Only when it
// changes nothing does a read tell a missing key from a no-op.
func (s *Store) RefundQuota(ctx context.Context, id string, cost int64, periodStart time.Time) error {
	var start int64
	if !periodStart.IsZero() {
		start = periodStart.UnixMicro()
	}
	res, err := s.exec(ctx, s.q.refundQuota, cost, cost, bin(id), start)
	if err != nil {
		return s.mapErr("refund quota", err)
	}
	if n, err := res.RowsAffected(); err != nil || n > 0 {
		return s.mapErr("refund quota", err)
	}
	// Nothing changed: the key is missing, revoked or unmetered, its period
	// is over, or (MySQL counts changed rows only) its budget is full.
	rec, err := s.ByID(ctx, id)
	if err != nil {
		return err
	}
	if !rec.RevokedAt.IsZero() || rec.Quota == nil {
		return apikey.ErrNotFound
	}
	return nil
}
