package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strings"

	"github.com/keyward/apikey"
)

// usageChunk is the most keys one AddUsage statement carries: three
// parameters each stays far below every dialect's placeholder limit, and
// the rows' UNION ALL below SQLite's 500 compound terms.
const usageChunk = 400

// AddUsage implements apikey.Store with one UPDATE per chunk of usageChunk
// keys (one statement for any batch the Manager writes in a busy interval
// of up to usageChunk keys); several chunks share one transaction, so a
// batch is added entirely or not at all. Entries of one ID are merged first.
func (s *Store) AddUsage(ctx context.Context, usage []apikey.Usage) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	merged := mergeUsage(usage)
	if len(merged) == 0 {
		return nil
	}
	if len(merged) <= usageChunk {
		defer s.lockWrites()()
		_, err := s.db.ExecContext(ctx, s.usageStatement(len(merged)), usageArgs(merged)...)
		return s.mapErr("add usage", err)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		for chunk := range slices.Chunk(merged, usageChunk) {
			if _, err := tx.ExecContext(ctx, s.usageStatement(len(chunk)), usageArgs(chunk)...); err != nil {
				return err
			}
		}
		return nil
	})
	return s.mapErr("add usage", err)
}

// mergeUsage sums the counts of entries with one ID, keeps their latest
// time, and sorts by ID so that concurrent batches lock rows in one order.
func mergeUsage(usage []apikey.Usage) []apikey.Usage {
	idx := make(map[string]int, len(usage))
	out := make([]apikey.Usage, 0, len(usage))
	for _, u := range usage {
		i, ok := idx[u.ID]
		if !ok {
			idx[u.ID] = len(out)
			out = append(out, u)
			continue
		}
		out[i].Count += u.Count
		if u.LastUsedAt.After(out[i].LastUsedAt) {
			out[i].LastUsedAt = u.LastUsedAt
		}
	}
	slices.SortFunc(out, func(a, b apikey.Usage) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

func usageArgs(usage []apikey.Usage) []any {
	args := make([]any, 0, 3*len(usage))
	for _, u := range usage {
		args = append(args, bin(u.ID), u.Count, micros(u.LastUsedAt))
	}
	return args
}

// usageStatement returns the UPDATE of n keys from a derived table u(id, n,
// last) of parameters: UPDATE … FROM on PostgreSQL and SQLite, UPDATE …
// JOIN on MySQL. Counts add up; last_used_at only moves forward.
func (s *Store) usageStatement(n int) string {
	binType, intType := s.dialect.castTypes()
	var rows strings.Builder
	for i := range n {
		if i > 0 {
			rows.WriteString(" UNION ALL ")
		}
		rows.WriteString("SELECT CAST(? AS " + binType + ") AS id, CAST(? AS " + intType + ") AS n, CAST(? AS " + intType + ") AS last")
	}
	const (
		count = "request_count = k.request_count + u.n"
		last  = "last_used_at = CASE WHEN u.last IS NOT NULL AND (k.last_used_at IS NULL OR k.last_used_at < u.last) " +
			"THEN u.last ELSE k.last_used_at END"
	)
	var q string
	if s.dialect == MySQL {
		q = "UPDATE " + s.q.table + " AS k JOIN (" + rows.String() + ") AS u ON k.id = u.id SET k." + count + ", k." + last
	} else {
		q = "UPDATE " + s.q.table + " AS k SET " + count + ", " + last + " FROM (" + rows.String() + ") AS u WHERE k.id = u.id"
	}
	return s.dialect.rebind(q)
}
