package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/keyward/apikey/audit"
)

var _ audit.Store = (*Store)(nil)

// auditColumns of audit_events, in the order AppendAudit writes and
// decodeAudit reads them.
const auditColumns = "id, time, action, outcome, actor_type, actor_id, owner_id, key_id, key_name, " +
	"client_addr, request_id, details"

// AppendAudit implements audit.Store with one INSERT.
func (s *Store) AppendAudit(ctx context.Context, ev *audit.Event) error {
	details, err := encodeMetadata(ev.Details)
	if err != nil {
		return err
	}
	defer s.lockWrites()()
	_, err = s.db.ExecContext(ctx, s.q.appendAudit,
		bin(ev.ID), ev.Time.UnixMicro(), string(ev.Action), ev.Outcome, bin(ev.ActorType), bin(ev.ActorID),
		bin(ev.OwnerID), bin(ev.KeyID), bin(ev.KeyName), bin(ev.ClientAddr), bin(ev.RequestID), details)
	return s.mapErr("append audit", err)
}

// ListAudit implements audit.Store with keyset pagination on id, on
// the (owner_id, id) or (key_id, id) index when an owner or key is given.
func (s *Store) ListAudit(ctx context.Context, q audit.Query) ([]*audit.Event, error) {
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	var conds []string
	var args []any
	add := func(cond string, arg any) {
		conds = append(conds, cond)
		args = append(args, arg)
	}
	order := " ORDER BY id"
	if q.After != "" {
		if q.Reverse {
			add("id < ?", bin(q.After))
		} else {
			add("id > ?", bin(q.After))
		}
	}
	if q.Reverse {
		order += " DESC"
	}
	if q.OwnerID != "" {
		add("owner_id = ?", bin(q.OwnerID))
	}
	if q.KeyID != "" {
		add("key_id = ?", bin(q.KeyID))
	}
	if q.Action != "" {
		add("action = ?", string(q.Action))
	}
	if !q.Since.IsZero() {
		add("time >= ?", q.Since.UnixMicro())
	}
	if !q.Until.IsZero() {
		add("time < ?", q.Until.UnixMicro())
	}
	return selectPage(ctx, s, "list audit", s.q.selectAudit, conds, order, args, limit, decodeAudit)
}

func decodeAudit(row scanner) (*audit.Event, error) {
	var (
		ev                                                       audit.Event
		id, actorType, actorID, owner, keyID, keyName, addr, req []byte
		action                                                   string
		at                                                       int64
		details                                                  sql.NullString
	)
	if err := row.Scan(&id, &at, &action, &ev.Outcome, &actorType, &actorID, &owner, &keyID, &keyName,
		&addr, &req, &details); err != nil {
		return nil, err
	}
	ev.ID, ev.Time, ev.Action = string(id), time.UnixMicro(at).UTC(), audit.Action(action)
	ev.ActorType, ev.ActorID, ev.OwnerID = string(actorType), string(actorID), string(owner)
	ev.KeyID, ev.KeyName, ev.ClientAddr, ev.RequestID = string(keyID), string(keyName), string(addr), string(req)
	if details.Valid {
		if err := json.Unmarshal([]byte(details.String), &ev.Details); err != nil {
			return nil, fmt.Errorf("sqlstore: decoding details of audit event %s: %w", ev.ID, err)
		}
	}
	return &ev, nil
}
