// Package memstore is an in-memory apikey.Store, for tests, development and
// single-process services that recreate their keys at start. Nothing
// survives a restart; use store/sqlitestore for that.
//
// Lookups by digest (the verify path) take no lock: the digest index is a
// sharded copy-on-write map, so verification scales across cores. Writes
// are serialized and copy one shard.
package memstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/internal/cowmap"
	"github.com/keyward/apikey/internal/listfilter"
)

var _ apikey.Store = (*Store)(nil)

const digestShards = 256

// Store is an in-memory apikey.Store. Records are immutable once stored:
// every change replaces a record, so a record returned to a reader is never
// modified.
type Store struct {
	byDigest [digestShards]cowmap.Map[apikey.Digest, *apikey.Record]

	mu   sync.RWMutex // guards byID and serializes writers
	byID map[string]*apikey.Record

	audit auditLog
}

// New returns an empty Store.
func New() *Store {
	return &Store{byID: map[string]*apikey.Record{}}
}

func (s *Store) shard(d apikey.Digest) *cowmap.Map[apikey.Digest, *apikey.Record] {
	return &s.byDigest[d[0]]
}

// Insert implements apikey.Store.
func (s *Store) Insert(ctx context.Context, rec *apikey.Record) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.insertLocked(rec.Clone())
}

func (s *Store) insertLocked(rec *apikey.Record) error {
	if _, ok := s.byID[rec.ID]; ok {
		return fmt.Errorf("memstore: id exists: %w", apikey.ErrConflict)
	}
	if _, ok := s.shard(rec.Digest).Load(rec.Digest); ok {
		return fmt.Errorf("memstore: digest exists: %w", apikey.ErrConflict)
	}
	s.putLocked(rec)
	return nil
}

// putLocked publishes rec in both indexes, replacing any record of its ID.
func (s *Store) putLocked(rec *apikey.Record) {
	s.byID[rec.ID] = rec
	s.shard(rec.Digest).Update(func(m map[apikey.Digest]*apikey.Record) { m[rec.Digest] = rec })
}

// ByDigest implements apikey.Store.
func (s *Store) ByDigest(ctx context.Context, d apikey.Digest) (*apikey.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if rec, ok := s.shard(d).Load(d); ok {
		return rec, nil
	}
	return nil, apikey.ErrNotFound
}

// ByID implements apikey.Store.
func (s *Store) ByID(ctx context.Context, id string) (*apikey.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	rec, ok := s.byID[id]
	s.mu.RUnlock()
	if !ok {
		return nil, apikey.ErrNotFound
	}
	return rec, nil
}

// List implements apikey.Store.
func (s *Store) List(ctx context.Context, opts apikey.ListOptions) ([]*apikey.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	var out []*apikey.Record
	for _, rec := range s.byID {
		if rec.ID <= opts.After && opts.After != "" || !listfilter.Matches(&opts, &rec.Key) {
			continue
		}
		out = append(out, rec)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *apikey.Record) int { return cmp.Compare(a.ID, b.ID) })
	if opts.Limit > 0 && len(out) > opts.Limit {
		out = out[:opts.Limit]
	}
	return out, nil
}

// modify replaces the live (not revoked) record id with fn's change of a
// copy of it.
func (s *Store) modify(ctx context.Context, id string, fn func(*apikey.Record) error) (*apikey.Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.modifyLocked(id, fn)
}

// modifyLocked is modify with s.mu held.
func (s *Store) modifyLocked(id string, fn func(*apikey.Record) error) (*apikey.Record, error) {
	old, ok := s.byID[id]
	if !ok || !old.RevokedAt.IsZero() {
		return nil, apikey.ErrNotFound
	}
	rec := old.Clone()
	if err := fn(rec); err != nil {
		return nil, err
	}
	if rec.Digest != old.Digest {
		s.shard(old.Digest).Update(func(m map[apikey.Digest]*apikey.Record) { delete(m, old.Digest) })
	}
	s.putLocked(rec)
	return rec, nil
}

// Update implements apikey.Store.
func (s *Store) Update(ctx context.Context, id string, p apikey.UpdateParams) (*apikey.Record, error) {
	return s.modify(ctx, id, func(rec *apikey.Record) error {
		if p.Name != nil {
			rec.Name = *p.Name
		}
		if p.Metadata != nil {
			rec.Metadata = p.Metadata
			if len(p.Metadata) == 0 {
				rec.Metadata = nil
			}
		}
		if p.Disabled != nil {
			rec.Disabled = *p.Disabled
		}
		return nil
	})
}

// Revoke implements apikey.Store.
func (s *Store) Revoke(ctx context.Context, id string, at time.Time) (*apikey.Record, error) {
	return s.modify(ctx, id, func(rec *apikey.Record) error {
		rec.RevokedAt = at.UTC()
		return nil
	})
}

// Rotate implements apikey.Store.
func (s *Store) Rotate(ctx context.Context, oldID string, graceEnd time.Time, next *apikey.Record) (*apikey.Record, error) {
	next = next.Clone()
	next.RotatedFromID = oldID
	return s.modify(ctx, oldID, func(rec *apikey.Record) error {
		if rec.RotatedToID != "" {
			return fmt.Errorf("memstore: key already rotated: %w", apikey.ErrConflict)
		}
		if q := rec.Quota; q != nil { // the budget moves, as it stands, to the successor
			moved := *q
			next.Quota = &moved
			q.Remaining = 0
		}
		if err := s.insertLocked(next); err != nil {
			return err
		}
		rec.RotatedToID = next.ID
		if rec.ExpiresAt.IsZero() || graceEnd.Before(rec.ExpiresAt) {
			rec.ExpiresAt = graceEnd.UTC()
		}
		return nil
	})
}

// SetDigest implements apikey.Store.
func (s *Store) SetDigest(ctx context.Context, id string, old, d apikey.Digest, scheme string) error {
	_, err := s.modify(ctx, id, func(rec *apikey.Record) error {
		if rec.Digest != old {
			return apikey.ErrNotFound
		}
		if _, ok := s.shard(d).Load(d); ok {
			return fmt.Errorf("memstore: digest exists: %w", apikey.ErrConflict)
		}
		rec.Digest, rec.DigestScheme = d, scheme
		return nil
	})
	return err
}

// errBudgetGone: the budget of a rotated key's chain is out of reach.
var errBudgetGone = errors.New("memstore: the rotation chain's budget is gone")

// budgetLocked returns the ID of the key whose quota is the budget of key
// id: id itself, or the newest key of its rotation chain.
func (s *Store) budgetLocked(id string) (string, error) {
	rec, ok := s.byID[id]
	if !ok || !rec.RevokedAt.IsZero() || rec.Quota == nil {
		return "", apikey.ErrNotFound
	}
	for hops := 0; rec.RotatedToID != ""; hops++ {
		if rec, ok = s.byID[rec.RotatedToID]; !ok || hops == apikey.MaxRotationChain {
			return "", errBudgetGone
		}
	}
	if !rec.RevokedAt.IsZero() || rec.Quota == nil {
		return "", errBudgetGone
	}
	return rec.ID, nil
}

// ConsumeQuota implements apikey.Store.
func (s *Store) ConsumeQuota(ctx context.Context, id string, cost int64, periodStart time.Time) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	budget, err := s.budgetLocked(id)
	switch {
	case err == errBudgetGone:
		return 0, apikey.ErrQuotaExceeded
	case err != nil:
		return 0, err
	}
	var remaining int64
	_, err = s.modifyLocked(budget, func(rec *apikey.Record) error {
		q := rec.Quota
		if q.Refill != apikey.RefillNever && q.PeriodStart.Before(periodStart) {
			q.Remaining, q.PeriodStart = q.Limit, periodStart.UTC()
		}
		if q.Remaining < cost {
			remaining = q.Remaining
			return apikey.ErrQuotaExceeded
		}
		q.Remaining -= cost
		remaining = q.Remaining
		return nil
	})
	return remaining, err
}

// RefundQuota implements apikey.Store.
func (s *Store) RefundQuota(ctx context.Context, id string, cost int64, periodStart time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	budget, err := s.budgetLocked(id)
	switch {
	case err == errBudgetGone:
		return nil // nothing to give back to
	case err != nil:
		return err
	}
	rec := s.byID[budget]
	if !rec.Quota.PeriodStart.Equal(periodStart) || rec.Quota.Remaining >= rec.Quota.Limit {
		return nil // refilled since (the credit's period is over), or full
	}
	_, err = s.modifyLocked(budget, func(rec *apikey.Record) error {
		rec.Quota.Remaining = min(rec.Quota.Remaining+cost, rec.Quota.Limit)
		return nil
	})
	return err
}

// AddUsage implements apikey.Store. Usage is recorded on revoked keys too.
func (s *Store) AddUsage(ctx context.Context, usage []apikey.Usage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range usage {
		old, ok := s.byID[u.ID]
		if !ok {
			continue
		}
		rec := old.Clone()
		rec.RequestCount += u.Count
		if u.LastUsedAt.After(rec.LastUsedAt) {
			rec.LastUsedAt = u.LastUsedAt.UTC()
		}
		s.putLocked(rec)
	}
	return nil
}
