package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/keyward/apikey"
)

// refilledQuota is the quota a key has once a refill that is due has been
// applied: the limit when the key refills and its period started before
// the current one, else what remains.
const refilledQuota = "(CASE WHEN quota_refill <> '' AND quota_period_start < ? THEN quota_limit ELSE quota_remaining END)"

// The budget of a key is its own quota until it is rotated, then the
// newest key's of its rotation chain (see apikey.Store). The statements
// below touch only a key that is live, metered and not rotated: for a key
// never rotated that is the one statement, and only when it changes nothing
// is a chain followed, one indexed read a link, to the key whose row the
// same statement then changes. A concurrent Rotate makes that statement
// change nothing again, and the walk goes on from there: it always ends on
// the budget as it stands, and a rotated key's own quota is never changed.

// errRotated: the key was rotated, its budget is further down its chain.
var errRotated = errors.New("sqlstore: rotated")

// errBudgetGone: the newest key of the chain is revoked, lacks a quota, or
// is further than apikey.MaxRotationChain links.
var errBudgetGone = errors.New("sqlstore: the rotation chain's budget is gone")

func unixMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// ConsumeQuota implements apikey.Store: one conditional UPDATE refills and
// takes in the same statement, so concurrent requests, on any number of
// instances, never overdraw. (MySQL evaluates SET left to right: the new
// remaining count is computed before the period moves.)
func (s *Store) ConsumeQuota(ctx context.Context, id string, cost int64, periodStart time.Time) (int64, error) {
	start := unixMicros(periodStart)
	args := func(id string) []any { return []any{start, cost, start, start, bin(id), start, cost} }
	var remaining int64
	var next string
	unchanged := func(rec *apikey.Record) error {
		q := rec.Quota
		switch {
		case q == nil:
			return apikey.ErrNotFound
		case rec.RotatedToID != "":
			next = rec.RotatedToID
			return errRotated
		}
		remaining = q.Remaining
		if q.Refill != apikey.RefillNever && q.PeriodStart.Before(periodStart) {
			remaining = q.Limit
		}
		return apikey.ErrQuotaExceeded
	}
	rec, err := s.change(ctx, "consume quota", id, s.q.consumeQuota, args(id), unchanged, nil)
	for hops := 0; errors.Is(err, errRotated); {
		var budget string
		if budget, hops, err = s.chainEnd(ctx, next, hops); err != nil {
			break
		}
		rec, err = s.change(ctx, "consume quota", budget, s.q.consumeQuota, args(budget), unchanged, nil)
		if errors.Is(err, apikey.ErrNotFound) {
			err = errBudgetGone // revoked or without a quota
		}
	}
	switch {
	case errors.Is(err, errBudgetGone):
		return 0, apikey.ErrQuotaExceeded
	case err != nil:
		return remaining, err
	}
	return rec.Quota.Remaining, nil
}

// chainEnd follows RotatedToID from key id, hops links from the start of
// the walk, to the newest key of its chain, and returns it with the links
// followed so far.
func (s *Store) chainEnd(ctx context.Context, id string, hops int) (string, int, error) {
	for ; hops < apikey.MaxRotationChain; hops++ {
		var next []byte
		err := s.db.QueryRowContext(ctx, s.q.rotatedTo, bin(id)).Scan(&next)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return "", hops, errBudgetGone
		case err != nil:
			return "", hops, s.mapErr("rotation chain", err)
		case len(next) == 0:
			return id, hops + 1, nil
		}
		id = string(next)
	}
	return "", hops, errBudgetGone
}

// RefundQuota implements apikey.Store: one conditional UPDATE. Only when it
// changes nothing does a read tell a missing key from a no-op or a
// rotated key.
func (s *Store) RefundQuota(ctx context.Context, id string, cost int64, periodStart time.Time) error {
	start := unixMicros(periodStart)
	for hops, budget := 0, id; ; {
		res, err := s.exec(ctx, s.q.refundQuota, cost, cost, bin(budget), start)
		if err != nil {
			return s.mapErr("refund quota", err)
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return s.mapErr("refund quota", err)
		}
		// Nothing changed: the key is missing, revoked, unmetered or
		// rotated, its period is over, or (MySQL counts changed rows only)
		// its budget is full.
		rec, err := s.ByID(ctx, budget)
		switch {
		case budget == id && err != nil:
			return err
		case budget == id && (!rec.RevokedAt.IsZero() || rec.Quota == nil):
			return apikey.ErrNotFound
		case err != nil && !errors.Is(err, apikey.ErrNotFound):
			return err
		case err != nil || rec.RotatedToID == "":
			return nil // the budget is gone, or nothing to give back
		}
		if budget, hops, err = s.chainEnd(ctx, rec.RotatedToID, hops); err != nil {
			if errors.Is(err, errBudgetGone) {
				return nil
			}
			return err
		}
	}
}
