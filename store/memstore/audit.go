package memstore

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
)

var _ audit.Store = (*Store)(nil)

// auditLog keeps audit events in ID order (IDs are UUIDv7, so appends are
// almost always at the end).
type auditLog struct {
	mu     sync.RWMutex
	events []*audit.Event
	ids    map[string]bool
}

// AppendAudit implements audit.Store.
func (s *Store) AppendAudit(ctx context.Context, ev *audit.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c := *ev
	c.Time = ev.Time.UTC()
	c.Details = maps.Clone(ev.Details)
	l := &s.audit
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ids[c.ID] {
		return fmt.Errorf("memstore: audit event id exists: %w", apikey.ErrConflict)
	}
	if l.ids == nil {
		l.ids = map[string]bool{}
	}
	l.ids[c.ID] = true
	i, _ := slices.BinarySearchFunc(l.events, c.ID, func(e *audit.Event, id string) int {
		return strings.Compare(e.ID, id)
	})
	l.events = slices.Insert(l.events, i, &c)
	return nil
}

// ListAudit implements audit.Store.
func (s *Store) ListAudit(ctx context.Context, q audit.Query) ([]*audit.Event, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	l := &s.audit
	l.mu.RLock()
	defer l.mu.RUnlock()
	var out []*audit.Event
	n := len(l.events)
	for j := range n {
		ev := l.events[j]
		if q.Reverse {
			ev = l.events[n-1-j]
		}
		if q.Limit > 0 && len(out) == q.Limit {
			break
		}
		if q.After != "" && (!q.Reverse && ev.ID <= q.After || q.Reverse && ev.ID >= q.After) || !matches(ev, &q) {
			continue
		}
		c := *ev
		c.Details = maps.Clone(ev.Details)
		out = append(out, &c)
	}
	return out, nil
}

func matches(ev *audit.Event, q *audit.Query) bool {
	return (q.OwnerID == "" || ev.OwnerID == q.OwnerID) &&
		(q.KeyID == "" || ev.KeyID == q.KeyID) &&
		(q.Action == "" || ev.Action == q.Action) &&
		(q.Since.IsZero() || !ev.Time.Before(q.Since)) &&
		(q.Until.IsZero() || ev.Time.Before(q.Until))
}
