package sqlstore

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/keyward/apikey"
)

// Insert implements apikey.Store.
func (s *Store) Insert(ctx context.Context, rec *apikey.Record) error {
	args, err := encode(rec)
	if err != nil {
		return err
	}
	defer s.lockWrites()()
	_, err = s.db.ExecContext(ctx, s.q.insert, args...)
	return s.mapErr("insert", err)
}

// Update implements apikey.Store.
func (s *Store) Update(ctx context.Context, id string, p apikey.UpdateParams) (*apikey.Record, error) {
	var sets []string
	var args []any
	if p.Name != nil {
		sets = append(sets, "name = ?")
		args = append(args, bin(*p.Name))
	}
	if p.Metadata != nil {
		md, err := encodeMetadata(p.Metadata)
		if err != nil {
			return nil, err
		}
		sets = append(sets, "metadata = ?")
		args = append(args, md)
	}
	if p.Disabled != nil {
		sets = append(sets, "disabled = ?")
		args = append(args, *p.Disabled)
	}
	var update string
	if len(sets) > 0 {
		update = s.dialect.rebind("UPDATE " + s.q.table + " SET " + strings.Join(sets, ", ") +
			" WHERE id = ? AND revoked_at IS NULL")
		args = append(args, bin(id))
	}
	return s.change(ctx, "update", id, update, args, nil, nil)
}

// Revoke implements apikey.Store.
func (s *Store) Revoke(ctx context.Context, id string, at time.Time) (*apikey.Record, error) {
	return s.change(ctx, "revoke", id, s.q.revoke, []any{micros(at), bin(id)}, nil, nil)
}

// Rotate implements apikey.Store: in one transaction, the conditional
// UPDATE of the old key (not revoked, not rotated) and the INSERT of the
// new one.
func (s *Store) Rotate(ctx context.Context, oldID string, graceEnd time.Time, next *apikey.Record) (*apikey.Record, error) {
	next = next.Clone()
	next.RotatedFromID = oldID
	grace := micros(graceEnd)
	args := []any{bin(next.ID), grace, grace, bin(oldID)}
	unchanged := func(*apikey.Record) error { return apikey.ErrConflict } // already rotated
	insert := func(tx *sql.Tx, old *apikey.Record) error {
		if q := old.Quota; q != nil {
			// The budget moves, as it stands now, to the successor.
			moved := *q
			next.Quota = &moved
			if _, err := tx.ExecContext(ctx, s.q.drainQuota, bin(oldID)); err != nil {
				return err
			}
			q.Remaining = 0
		}
		ins, err := encode(next)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, s.q.insert, ins...)
		return err
	}
	return s.change(ctx, "rotate", oldID, s.q.rotate, args, unchanged, insert)
}

// SetDigest implements apikey.Store.
func (s *Store) SetDigest(ctx context.Context, id string, old, d apikey.Digest, scheme string) error {
	unchanged := func(rec *apikey.Record) error {
		if rec.Digest != old {
			return apikey.ErrNotFound // another instance re-hashed it first
		}
		return nil // d == old and the scheme was already set: nothing to do
	}
	args := []any{d[:], scheme, bin(id), old[:]}
	_, err := s.change(ctx, "set digest", id, s.q.rehash, args, unchanged, nil)
	return err
}

// change runs, in one transaction, update (a conditional UPDATE of the live
// key id, or nothing when update is empty), then also (if not nil), and
// returns the key as it is afterwards.
//
// When update changes no row, the key is ErrNotFound if it is missing or
// revoked; otherwise unchanged decides (nil: success). MySQL counts only
// rows whose values changed, so a row that matched with equal values also
// ends up in unchanged.
func (s *Store) change(ctx context.Context, op, id, update string, args []any,
	unchanged func(*apikey.Record) error, also func(*sql.Tx, *apikey.Record) error) (*apikey.Record, error) {
	var rec *apikey.Record
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		var n int64
		if update != "" {
			res, err := tx.ExecContext(ctx, update, args...)
			if err != nil {
				return err
			}
			if n, err = res.RowsAffected(); err != nil {
				return err
			}
		}
		var err error
		if rec, err = decode(tx.QueryRowContext(ctx, s.q.byID, bin(id))); err != nil {
			return err
		}
		if n == 0 {
			if !rec.RevokedAt.IsZero() {
				return apikey.ErrNotFound
			}
			if unchanged != nil {
				if err := unchanged(rec); err != nil {
					return err
				}
			}
		}
		if also != nil {
			return also(tx, rec)
		}
		return nil
	})
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	return rec, nil
}
