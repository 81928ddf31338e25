package sqlstore

import (
	"context"
	"strings"

	"github.com/keyward/apikey"
)

// ByDigest implements apikey.Store: one indexed SELECT with a prepared
// statement, one round trip.
func (s *Store) ByDigest(ctx context.Context, d apikey.Digest) (*apikey.Record, error) {
	st, err := s.byDigest.get(ctx, s.db)
	if err != nil {
		return nil, s.mapErr("by digest", err)
	}
	rec, err := decode(st.QueryRowContext(ctx, d[:]))
	return rec, s.mapErr("by digest", err)
}

// ByID implements apikey.Store.
func (s *Store) ByID(ctx context.Context, id string) (*apikey.Record, error) {
	rec, err := decode(s.db.QueryRowContext(ctx, s.q.byID, bin(id)))
	return rec, s.mapErr("by id", err)
}

// List implements apikey.Store with keyset pagination: WHERE id > After
// ORDER BY id, on the (owner_id, id) index when an owner is given. The
// lifecycle filters are conditions on the same scan.
func (s *Store) List(ctx context.Context, opts apikey.ListOptions) ([]*apikey.Record, error) {
	limit := opts.Limit
	if limit <= 0 {
		limit = 100
	}
	var conds []string
	var args []any
	if opts.After != "" {
		conds = append(conds, "id > ?")
		args = append(args, bin(opts.After))
	}
	if opts.OwnerID != "" {
		conds = append(conds, "owner_id = ?")
		args = append(args, bin(opts.OwnerID))
	}
	lc, lcArgs := lifecycleConds(opts)
	conds, args = append(conds, lc...), append(args, lcArgs...)
	return selectPage(ctx, s, "list", "SELECT "+columns+" FROM "+s.q.table, conds, " ORDER BY id", args, limit, decode)
}

// selectPage runs from, WHERE conds (joined by AND), order and LIMIT
// limit, with args, and decodes every row.
func selectPage[T any](ctx context.Context, s *Store, op, from string, conds []string, order string, args []any,
	limit int, decode func(scanner) (T, error)) ([]T, error) {
	q := from
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	q += order + " LIMIT ?"
	rows, err := s.db.QueryContext(ctx, s.dialect.rebind(q), append(args, limit)...)
	if err != nil {
		return nil, s.mapErr(op, err)
	}
	defer rows.Close()
	out := make([]T, 0, min(limit, 100))
	for rows.Next() {
		v, err := decode(rows)
		if err != nil {
			return nil, s.mapErr(op, err)
		}
		out = append(out, v)
	}
	return out, s.mapErr(op, rows.Err())
}

// lifecycleConds are the conditions of opts' revocation and lifecycle
// filters, as Key.Status and ListOptions define them.
func lifecycleConds(opts apikey.ListOptions) (conds []string, args []any) {
	const (
		live      = "revoked_at IS NULL"
		unexpired = "(expires_at IS NULL OR expires_at > ?)"
	)
	at := opts.At.UnixMicro()
	switch opts.Status {
	case "":
		if !opts.IncludeRevoked {
			conds = append(conds, live)
		}
	case apikey.StatusRevoked:
		conds = append(conds, "revoked_at IS NOT NULL")
	case apikey.StatusExpired:
		conds = append(conds, live, "expires_at IS NOT NULL AND expires_at <= ?")
		args = append(args, at)
	case apikey.StatusDisabled, apikey.StatusActive:
		conds = append(conds, live, unexpired, "disabled = ?")
		args = append(args, at, opts.Status == apikey.StatusDisabled)
	default:
		conds = append(conds, "1 = 0") // an unknown state matches nothing
	}
	if !opts.ExpiringBefore.IsZero() {
		conds = append(conds, "expires_at IS NOT NULL AND expires_at < ?")
		args = append(args, opts.ExpiringBefore.UnixMicro())
	}
	if !opts.UnusedSince.IsZero() {
		since := opts.UnusedSince.UnixMicro()
		conds = append(conds, "created_at < ? AND (last_used_at IS NULL OR last_used_at < ?)")
		args = append(args, since, since)
	}
	return conds, args
}
