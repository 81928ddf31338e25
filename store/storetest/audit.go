package storetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
)

// auditStore returns s as an audit.Store, or skips the test.
func auditStore(t *testing.T, s apikey.Store) audit.Store {
	t.Helper()
	as, ok := s.(audit.Store)
	if !ok {
		t.Skip("the store does not implement audit.Store")
	}
	return as
}

// Event returns a valid audit event for tests with a fresh UUIDv7 ID.
func Event(action audit.Action, ownerID, keyID string, at time.Time) *audit.Event {
	return &audit.Event{
		ID:         uuid.Must(uuid.NewV7()).String(),
		Time:       at,
		Action:     action,
		Outcome:    audit.Success,
		ActorType:  audit.ActorAPIKey,
		ActorID:    "actor_" + keyID,
		OwnerID:    ownerID,
		KeyID:      keyID,
		KeyName:    "name of " + keyID,
		ClientAddr: "192.0.2.1:1234",
		RequestID:  "req_" + keyID,
	}
}

func equalEvents(got, want *audit.Event) string {
	if !got.Time.Equal(want.Time) || got.Time.Location() != time.UTC {
		return fmt.Sprintf("Time = %v, want %v in UTC", got.Time, want.Time)
	}
	type plain struct{ id, act, out, at, ai, own, key, name, addr, req string }
	flat := func(e *audit.Event) plain {
		return plain{e.ID, string(e.Action), e.Outcome, e.ActorType, e.ActorID, e.OwnerID, e.KeyID, e.KeyName,
			e.ClientAddr, e.RequestID}
	}
	if g, w := flat(got), flat(want); g != w || !maps.Equal(got.Details, want.Details) {
		return fmt.Sprintf("got %q %q, want %q %q", g, got.Details, w, want.Details)
	}
	return ""
}

func testAudit(t *testing.T, s apikey.Store) {
	as := auditStore(t, s)
	ctx := context.Background()
	ev := Event(audit.KeyRotated, "org_1", "key_1", base)
	ev.Details = map[string]string{"new_key_id": "key_2", "grace_seconds": "60"}
	want := *ev
	want.Details = maps.Clone(ev.Details)
	if err := as.AppendAudit(ctx, ev); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	ev.Details["new_key_id"] = "changed" // the store keeps a copy
	if err := as.AppendAudit(ctx, Event(audit.KeyCreated, "org_1", "key_2", base)); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
	dup := Event(audit.KeyCreated, "org_1", "key_3", base)
	dup.ID = ev.ID
	if err := as.AppendAudit(ctx, dup); !errors.Is(err, apikey.ErrConflict) {
		t.Errorf("AppendAudit with an existing ID: err = %v, want ErrConflict", err)
	}
	got, err := as.ListAudit(ctx, audit.Query{KeyID: "key_1", Limit: 10})
	if err != nil {
		t.Fatalf("ListAudit: %v", err)
	}
	if len(got) != 1 {
		t.Fatalf("ListAudit(key_1) = %d events, want 1", len(got))
	}
	if d := equalEvents(got[0], &want); d != "" {
		t.Errorf("ListAudit: %s", d)
	}

	// Hostile strings round-trip verbatim; empty details read back empty.
	hostile := Event(audit.KeyRevokedUsed, "org_'; DROP TABLE x;--", "key_\x00nul", base.Add(time.Microsecond))
	hostile.Outcome = audit.Failure
	hostile.ActorType, hostile.ActorID = "host's own", "ユーザー \"quoted\" \\ \x00"
	hostile.KeyName, hostile.ClientAddr, hostile.RequestID = "Ünïcode\ttab", "[2001:db8::1]:443", "req\n2"
	hostile.Details = map[string]string{"note\x00": "a\"b", "suppressed": "3"}
	if err := as.AppendAudit(ctx, hostile); err != nil {
		t.Fatalf("AppendAudit(hostile): %v", err)
	}
	got, err = as.ListAudit(ctx, audit.Query{OwnerID: hostile.OwnerID, Limit: 10})
	if err != nil || len(got) != 1 {
		t.Fatalf("ListAudit(hostile owner) = %d events, %v; want 1", len(got), err)
	}
	if d := equalEvents(got[0], hostile); d != "" {
		t.Errorf("hostile strings: %s", d)
	}

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	if err := as.AppendAudit(canceled, Event(audit.KeyCreated, "o", "k", base)); err == nil {
		t.Error("AppendAudit with a canceled context succeeded")
	}
	if _, err := as.ListAudit(canceled, audit.Query{Limit: 1}); err == nil {
		t.Error("ListAudit with a canceled context succeeded")
	}
}

func testAuditFilters(t *testing.T, s apikey.Store) {
	as := auditStore(t, s)
	ctx := context.Background()
	actions := []audit.Action{audit.KeyCreated, audit.KeyUpdated, audit.KeyRevoked}
	var all []*audit.Event
	for i := range 30 {
		owner := []string{"org_a", "org_b"}[i%2]
		key := fmt.Sprintf("key_%d", i%5)
		ev := Event(actions[i%3], owner, key, base.Add(time.Duration(i)*time.Minute))
		if err := as.AppendAudit(ctx, ev); err != nil {
			t.Fatalf("AppendAudit: %v", err)
		}
		all = append(all, ev)
	}
	pages := func(q audit.Query) []string {
		return pageThrough(t, q.Limit, func(after string) ([]*audit.Event, error) {
			q.After = after
			return as.ListAudit(ctx, q)
		}, func(ev *audit.Event) string { return ev.ID })
	}
	want := func(keep func(i int, ev *audit.Event) bool) []string {
		var ids []string
		for i, ev := range all {
			if keep(i, ev) {
				ids = append(ids, ev.ID)
			}
		}
		return ids
	}
	since, until := base.Add(10*time.Minute), base.Add(20*time.Minute)
	for _, tc := range []struct {
		name string
		q    audit.Query
		want []string
	}{
		{"all", audit.Query{Limit: 7}, want(func(int, *audit.Event) bool { return true })},
		{"owner", audit.Query{OwnerID: "org_a", Limit: 4}, want(func(i int, _ *audit.Event) bool { return i%2 == 0 })},
		{"key", audit.Query{KeyID: "key_3", Limit: 2}, want(func(i int, _ *audit.Event) bool { return i%5 == 3 })},
		{"action", audit.Query{Action: audit.KeyRevoked, Limit: 3}, want(func(i int, _ *audit.Event) bool { return i%3 == 2 })},
		{"time range", audit.Query{Since: since, Until: until, Limit: 3}, want(func(i int, _ *audit.Event) bool { return i >= 10 && i < 20 })},
		{"everything", audit.Query{OwnerID: "org_b", KeyID: "key_1", Action: audit.KeyCreated, Since: since, Limit: 1},
			want(func(i int, _ *audit.Event) bool { return i%2 == 1 && i%5 == 1 && i%3 == 0 && i >= 10 })},
		{"no match", audit.Query{OwnerID: "org_none", Limit: 5}, nil},
	} {
		if got := pages(tc.q); !slices.Equal(got, tc.want) {
			t.Errorf("%s: listed %v, want %v", tc.name, got, tc.want)
		}
		tc.q.Reverse = true
		rev := slices.Clone(tc.want)
		slices.Reverse(rev)
		if got := pages(tc.q); !slices.Equal(got, rev) {
			t.Errorf("%s, newest first: listed %v, want %v", tc.name, got, rev)
		}
	}
}
