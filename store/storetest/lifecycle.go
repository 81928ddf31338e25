package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/keyward/apikey"
)

// testListLifecycle checks ListOptions' Status, ExpiringBefore and
// UnusedSince, alone, together and with paging.
func testListLifecycle(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	at := base
	day := 24 * time.Hour
	add := func(seed string, edit func(*apikey.Record)) string {
		rec := Record(seed)
		rec.CreatedAt = at.Add(-30 * day)
		edit(rec)
		mustInsert(t, s, rec)
		return rec.ID
	}
	soon := add("soon", func(r *apikey.Record) { r.ExpiresAt = at.Add(10 * day) })
	expired := add("expired", func(r *apikey.Record) { r.ExpiresAt = at.Add(-time.Hour) })
	disabled := add("disabled", func(r *apikey.Record) { r.Disabled = true })
	revoked := add("revoked", func(r *apikey.Record) { r.ExpiresAt = at.Add(5 * day) })
	busy := add("busy", func(*apikey.Record) {})
	fresh := add("fresh", func(r *apikey.Record) { r.CreatedAt = at.Add(-time.Hour) })
	// Expiring exactly at At is expired (now >= ExpiresAt).
	edge := add("edge", func(r *apikey.Record) { r.ExpiresAt = at })
	if _, err := s.Revoke(ctx, revoked, at.Add(-day)); err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	err := s.AddUsage(ctx, []apikey.Usage{
		{ID: soon, Count: 1, LastUsedAt: at.Add(-day)},
		{ID: busy, Count: 5, LastUsedAt: at.Add(-30 * time.Minute)},
	})
	if err != nil {
		t.Fatalf("AddUsage: %v", err)
	}

	list := func(opts apikey.ListOptions) []string {
		opts.Limit = 2
		return listIDs(t, s, opts)
	}
	idle := at.Add(-2 * time.Hour)
	for _, tc := range []struct {
		name string
		opts apikey.ListOptions
		want []string
	}{
		{"active", apikey.ListOptions{Status: apikey.StatusActive, At: at}, []string{soon, busy, fresh}},
		{"expired", apikey.ListOptions{Status: apikey.StatusExpired, At: at}, []string{expired, edge}},
		{"disabled", apikey.ListOptions{Status: apikey.StatusDisabled, At: at}, []string{disabled}},
		{"revoked", apikey.ListOptions{Status: apikey.StatusRevoked, At: at}, []string{revoked}},
		{"active an hour ago", apikey.ListOptions{Status: apikey.StatusActive, At: at.Add(-90 * time.Minute)},
			[]string{soon, expired, busy, fresh, edge}},
		{"expiring, not revoked", apikey.ListOptions{ExpiringBefore: at.Add(20 * day)}, []string{soon, expired, edge}},
		{"expiring, with revoked", apikey.ListOptions{ExpiringBefore: at.Add(20 * day), IncludeRevoked: true},
			[]string{soon, expired, revoked, edge}},
		{"expiring bound is exclusive", apikey.ListOptions{ExpiringBefore: at.Add(10 * day)}, []string{expired, edge}},
		{"active and expiring", apikey.ListOptions{Status: apikey.StatusActive, At: at, ExpiringBefore: at.Add(20 * day)},
			[]string{soon}},
		{"idle", apikey.ListOptions{UnusedSince: idle}, []string{soon, expired, disabled, edge}},
		{"idle and active", apikey.ListOptions{UnusedSince: idle, Status: apikey.StatusActive, At: at}, []string{soon}},
		{"idle of another owner", apikey.ListOptions{UnusedSince: idle, OwnerID: "org_other"}, nil},
		{"unknown status", apikey.ListOptions{Status: "sleeping", At: at}, nil},
	} {
		got := list(tc.opts)
		want := slices.Clone(tc.want)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: listed %v, want %v", tc.name, got, want)
		}
	}
}
