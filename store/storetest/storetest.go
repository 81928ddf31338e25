// Package storetest checks an apikey.Store against the contract written on
// the interface. Every backend's tests call Run with a factory of empty
// stores:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) apikey.Store { return memstore.New() })
//	}
//
// It uses only the testing package, so importing it adds no dependency.
package storetest

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/keyward/apikey"
)

// Factory returns a new, empty store for one test. It registers any cleanup
// with t.Cleanup.
type Factory func(t *testing.T) apikey.Store

// Run runs the conformance suite against stores made by newStore. The
// audit tests run when the store also implements audit.Store, and
// are skipped otherwise.
func Run(t *testing.T, newStore Factory) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(*testing.T, apikey.Store)
	}{
		{"InsertAndLookup", testInsertAndLookup},
		{"InsertConflict", testInsertConflict},
		{"NotFound", testNotFound},
		{"StoresACopy", testStoresACopy},
		{"List", testList},
		{"ListLifecycle", testListLifecycle},
		{"Update", testUpdate},
		{"Revoke", testRevoke},
		{"Rotate", testRotate},
		{"SetDigest", testSetDigest},
		{"AddUsage", testAddUsage},
		{"AddUsageLargeBatch", testAddUsageLargeBatch},
		{"ExactMatch", testExactMatch},
		{"HostileStrings", testHostileStrings},
		{"Concurrent", testConcurrent},
		{"CanceledContext", testCanceledContext},
		{"Quota", testQuota},
		{"QuotaConcurrent", testQuotaConcurrent},
		{"QuotaRefund", testQuotaRefund},
		{"QuotaRotationChain", testQuotaRotationChain},
		{"QuotaRotationChainConcurrent", testQuotaRotationChainConcurrent},
		{"Audit", testAudit},
		{"AuditFilters", testAuditFilters},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// base is a fixed time with microsecond precision, the least any store keeps.
var base = time.Date(2026, 3, 14, 15, 9, 26, 535897000, time.UTC)

// Record returns a valid record for tests, with a unique ID and a digest
// derived from seed.
func Record(seed string) *apikey.Record {
	id := uuid.Must(uuid.NewV7()).String()
	return &apikey.Record{
		Key: apikey.Key{
			ID:          id,
			Name:        "key " + seed,
			Prefix:      "sk_live_" + fmt.Sprintf("%04x", len(seed))[:4],
			OwnerID:     "org_1",
			Environment: apikey.EnvLive,
			Scopes:      []string{"webhooks:read", "webhooks:write"},
			Metadata:    map[string]string{"team": "platform"},
			CreatedAt:   base,
		},
		Digest:       apikey.Digest(sha256.Sum256([]byte(seed))),
		DigestScheme: "sha256",
	}
}

func mustInsert(t *testing.T, s apikey.Store, rec *apikey.Record) {
	t.Helper()
	if err := s.Insert(context.Background(), rec); err != nil {
		t.Fatalf("Insert(%s): %v", rec.ID, err)
	}
}

func mustByID(t *testing.T, s apikey.Store, id string) *apikey.Record {
	t.Helper()
	rec, err := s.ByID(context.Background(), id)
	if err != nil {
		t.Fatalf("ByID(%s): %v", id, err)
	}
	return rec
}

// equalRecords reports how got differs from want; empty when equal. Nil and
// empty scopes and metadata are the same.
func equalRecords(got, want *apikey.Record) string {
	var diffs []string
	check := func(field string, g, w any) {
		if g != w {
			diffs = append(diffs, fmt.Sprintf("%s = %q, want %q", field, g, w))
		}
	}
	check("ID", got.ID, want.ID)
	check("Name", got.Name, want.Name)
	check("Prefix", got.Prefix, want.Prefix)
	check("OwnerID", got.OwnerID, want.OwnerID)
	check("Environment", got.Environment, want.Environment)
	check("Disabled", got.Disabled, want.Disabled)
	check("RequestCount", got.RequestCount, want.RequestCount)
	check("RotatedFromID", got.RotatedFromID, want.RotatedFromID)
	check("RotatedToID", got.RotatedToID, want.RotatedToID)
	check("DigestScheme", got.DigestScheme, want.DigestScheme)
	check("Plan", got.Plan, want.Plan)
	check("RateLimit", got.RateLimit, want.RateLimit)
	if (got.Quota == nil) != (want.Quota == nil) ||
		got.Quota != nil && (got.Quota.Limit != want.Quota.Limit || got.Quota.Remaining != want.Quota.Remaining ||
			got.Quota.Refill != want.Quota.Refill || !got.Quota.PeriodStart.Equal(want.Quota.PeriodStart)) {
		diffs = append(diffs, fmt.Sprintf("Quota = %+v, want %+v", got.Quota, want.Quota))
	}
	if got.Digest != want.Digest {
		diffs = append(diffs, "Digest differs")
	}
	if !slices.Equal(got.Scopes, want.Scopes) {
		diffs = append(diffs, fmt.Sprintf("Scopes = %q, want %q", got.Scopes, want.Scopes))
	}
	if len(got.Metadata) != len(want.Metadata) || len(want.Metadata) > 0 && !maps.Equal(got.Metadata, want.Metadata) {
		diffs = append(diffs, fmt.Sprintf("Metadata = %q, want %q", got.Metadata, want.Metadata))
	}
	times := []struct {
		name string
		g, w time.Time
	}{
		{"CreatedAt", got.CreatedAt, want.CreatedAt},
		{"ExpiresAt", got.ExpiresAt, want.ExpiresAt},
		{"RevokedAt", got.RevokedAt, want.RevokedAt},
		{"LastUsedAt", got.LastUsedAt, want.LastUsedAt},
	}
	for _, tm := range times {
		if !tm.g.Equal(tm.w) {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", tm.name, tm.g, tm.w))
		}
		if !tm.g.IsZero() && tm.g.Location() != time.UTC {
			diffs = append(diffs, fmt.Sprintf("%s is not in UTC: %v", tm.name, tm.g))
		}
	}
	return strings.Join(diffs, "; ")
}

func testInsertAndLookup(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	rec := Record("lookup")
	rec.ExpiresAt = base.Add(90 * 24 * time.Hour)
	rec.OwnerID = "org_lookup"
	rec.Plan = "team"
	rec.RateLimit = apikey.Limit{Requests: 300, Period: time.Minute, Burst: 50}
	rec.Quota = &apikey.Quota{Limit: 1000, Remaining: 999, Refill: apikey.RefillMonthly, PeriodStart: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	mustInsert(t, s, rec)

	got, err := s.ByDigest(ctx, rec.Digest)
	if err != nil {
		t.Fatalf("ByDigest: %v", err)
	}
	if d := equalRecords(got, rec); d != "" {
		t.Errorf("ByDigest: %s", d)
	}
	if d := equalRecords(mustByID(t, s, rec.ID), rec); d != "" {
		t.Errorf("ByID: %s", d)
	}
}

func testInsertConflict(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	rec := Record("conflict")
	mustInsert(t, s, rec)

	sameID := Record("other digest")
	sameID.ID = rec.ID
	if err := s.Insert(ctx, sameID); !errors.Is(err, apikey.ErrConflict) {
		t.Errorf("Insert with an existing ID: err = %v, want ErrConflict", err)
	}
	sameDigest := Record("conflict")
	if err := s.Insert(ctx, sameDigest); !errors.Is(err, apikey.ErrConflict) {
		t.Errorf("Insert with an existing digest: err = %v, want ErrConflict", err)
	}
	if _, err := s.ByID(ctx, sameDigest.ID); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("the conflicting record was stored: ByID err = %v", err)
	}
}

func testNotFound(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	mustInsert(t, s, Record("present"))
	missing := Record("missing")
	if _, err := s.ByDigest(ctx, missing.Digest); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("ByDigest(unknown): err = %v, want ErrNotFound", err)
	}
	if _, err := s.ByID(ctx, missing.ID); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("ByID(unknown): err = %v, want ErrNotFound", err)
	}
	if _, err := s.Update(ctx, missing.ID, apikey.UpdateParams{Name: ptr("x")}); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Update(unknown): err = %v, want ErrNotFound", err)
	}
	if _, err := s.Revoke(ctx, missing.ID, base); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Revoke(unknown): err = %v, want ErrNotFound", err)
	}
	if _, err := s.Rotate(ctx, missing.ID, base, Record("next")); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Rotate(unknown): err = %v, want ErrNotFound", err)
	}
}

func testStoresACopy(t *testing.T, s apikey.Store) {
	rec := Record("copy")
	want := rec.Clone()
	mustInsert(t, s, rec)
	rec.Name = "changed"
	rec.Scopes[0] = "changed"
	rec.Metadata["team"] = "changed"
	if d := equalRecords(mustByID(t, s, want.ID), want); d != "" {
		t.Errorf("changing the inserted record changed the store: %s", d)
	}
}

func testList(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	var ownerA, ownerB, revokedA []string
	for i := range 23 {
		rec := Record(fmt.Sprintf("list a %d", i))
		rec.OwnerID = "org_a"
		mustInsert(t, s, rec)
		if i%7 == 3 {
			if _, err := s.Revoke(ctx, rec.ID, base); err != nil {
				t.Fatalf("Revoke: %v", err)
			}
			revokedA = append(revokedA, rec.ID)
			continue
		}
		ownerA = append(ownerA, rec.ID)
	}
	for i := range 4 {
		rec := Record(fmt.Sprintf("list b %d", i))
		rec.OwnerID = "org_b"
		mustInsert(t, s, rec)
		ownerB = append(ownerB, rec.ID)
	}
	all := slices.Concat(ownerA, ownerB)
	allA := slices.Concat(ownerA, revokedA)
	for _, ids := range [][]string{ownerA, ownerB, all, allA} {
		slices.Sort(ids)
	}

	pages := func(opts apikey.ListOptions) []string { return listIDs(t, s, opts) }
	for _, tc := range []struct {
		name string
		opts apikey.ListOptions
		want []string
	}{
		{"owner a, pages of 5", apikey.ListOptions{OwnerID: "org_a", Limit: 5}, ownerA},
		{"owner a, one page", apikey.ListOptions{OwnerID: "org_a", Limit: 100}, ownerA},
		{"owner a with revoked", apikey.ListOptions{OwnerID: "org_a", IncludeRevoked: true, Limit: 4}, allA},
		{"owner b, page of exactly 4", apikey.ListOptions{OwnerID: "org_b", Limit: 4}, ownerB},
		{"every owner", apikey.ListOptions{Limit: 3}, all},
		{"unknown owner", apikey.ListOptions{OwnerID: "org_none", Limit: 10}, nil},
	} {
		if got := pages(tc.opts); !slices.Equal(got, tc.want) {
			t.Errorf("%s: listed %d ids %v, want %d in ascending order %v", tc.name, len(got), got, len(tc.want), tc.want)
		}
	}
}

func testUpdate(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	rec := Record("update")
	mustInsert(t, s, rec)

	got, err := s.Update(ctx, rec.ID, apikey.UpdateParams{Name: ptr("renamed"), Disabled: ptr(true)})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	want := rec.Clone()
	want.Name, want.Disabled = "renamed", true
	if d := equalRecords(got, want); d != "" {
		t.Errorf("Update returned: %s", d)
	}
	if d := equalRecords(mustByID(t, s, rec.ID), want); d != "" {
		t.Errorf("after Update: %s", d)
	}
	if got, err := s.ByDigest(ctx, rec.Digest); err != nil || !got.Disabled {
		t.Errorf("ByDigest after disabling: %+v, %v; want Disabled", got, err)
	}

	want.Metadata = map[string]string{"env": "ci", "team": "payments"}
	if _, err := s.Update(ctx, rec.ID, apikey.UpdateParams{Metadata: maps.Clone(want.Metadata), Disabled: ptr(false)}); err != nil {
		t.Fatalf("Update metadata: %v", err)
	}
	want.Disabled = false
	if d := equalRecords(mustByID(t, s, rec.ID), want); d != "" {
		t.Errorf("after replacing metadata: %s", d)
	}

	want.Metadata = nil
	if _, err := s.Update(ctx, rec.ID, apikey.UpdateParams{Metadata: map[string]string{}}); err != nil {
		t.Fatalf("Update clearing metadata: %v", err)
	}
	if d := equalRecords(mustByID(t, s, rec.ID), want); d != "" {
		t.Errorf("after clearing metadata: %s", d)
	}

	if _, err := s.Revoke(ctx, rec.ID, base); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, rec.ID, apikey.UpdateParams{Name: ptr("again")}); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Update of a revoked key: err = %v, want ErrNotFound", err)
	}
}

func testRevoke(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	rec := Record("revoke")
	mustInsert(t, s, rec)
	at := base.Add(time.Hour)
	got, err := s.Revoke(ctx, rec.ID, at)
	if err != nil {
		t.Fatalf("Revoke: %v", err)
	}
	if !got.RevokedAt.Equal(at) || got.Digest != rec.Digest {
		t.Errorf("Revoke returned RevokedAt %v digest match %v; want %v and the key's digest", got.RevokedAt, got.Digest == rec.Digest, at)
	}
	byDigest, err := s.ByDigest(ctx, rec.Digest)
	if err != nil || !byDigest.RevokedAt.Equal(at) {
		t.Errorf("ByDigest after Revoke: %v, %v; want the record with RevokedAt %v", byDigest, err, at)
	}
	if _, err := s.Revoke(ctx, rec.ID, at.Add(time.Hour)); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("second Revoke: err = %v, want ErrNotFound", err)
	}
	if got := mustByID(t, s, rec.ID); !got.RevokedAt.Equal(at) {
		t.Errorf("second Revoke moved RevokedAt to %v", got.RevokedAt)
	}
}

func testRotate(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	t.Run("links and grace", func(t *testing.T) {
		old := Record("rotate old")
		mustInsert(t, s, old)
		next := Record("rotate next")
		graceEnd := base.Add(time.Hour)
		got, err := s.Rotate(ctx, old.ID, graceEnd, next)
		if err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		if got.RotatedToID != next.ID || !got.ExpiresAt.Equal(graceEnd) {
			t.Errorf("Rotate returned old key with RotatedToID %q ExpiresAt %v; want %q, %v", got.RotatedToID, got.ExpiresAt, next.ID, graceEnd)
		}
		wantNext := next.Clone()
		wantNext.RotatedFromID = old.ID
		if d := equalRecords(mustByID(t, s, next.ID), wantNext); d != "" {
			t.Errorf("new key: %s", d)
		}
		if byDigest, err := s.ByDigest(ctx, next.Digest); err != nil || byDigest.ID != next.ID {
			t.Errorf("ByDigest(new key): %v, %v", byDigest, err)
		}
		if _, err := s.Rotate(ctx, old.ID, graceEnd, Record("rotate again")); !errors.Is(err, apikey.ErrConflict) {
			t.Errorf("rotating a rotated key: err = %v, want ErrConflict", err)
		}
	})
	t.Run("the quota moves", func(t *testing.T) {
		old := Record("rotate metered")
		old.Quota = &apikey.Quota{Limit: 10, Remaining: 3, Refill: apikey.RefillDaily, PeriodStart: base.Truncate(24 * time.Hour)}
		mustInsert(t, s, old)
		next := Record("rotate metered next")
		next.Quota = &apikey.Quota{Limit: 10, Remaining: 10, Refill: apikey.RefillDaily} // stale: the store decides
		got, err := s.Rotate(ctx, old.ID, base.Add(time.Hour), next)
		if err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		if got.Quota == nil || got.Quota.Remaining != 0 || mustByID(t, s, old.ID).Quota.Remaining != 0 {
			t.Errorf("the old key keeps a budget after rotation: %+v", got.Quota)
		}
		if q := mustByID(t, s, next.ID).Quota; q == nil || q.Remaining != 3 || !q.PeriodStart.Equal(old.Quota.PeriodStart) {
			t.Errorf("the successor's quota is %+v, want the 3 left of the old key's period", q)
		}
	})
	t.Run("earlier expiry stays", func(t *testing.T) {
		old := Record("rotate expiring")
		old.ExpiresAt = base.Add(time.Minute)
		mustInsert(t, s, old)
		got, err := s.Rotate(ctx, old.ID, base.Add(time.Hour), Record("rotate expiring next"))
		if err != nil {
			t.Fatalf("Rotate: %v", err)
		}
		if !got.ExpiresAt.Equal(old.ExpiresAt) {
			t.Errorf("ExpiresAt = %v, want the earlier %v", got.ExpiresAt, old.ExpiresAt)
		}
	})
	t.Run("revoked key", func(t *testing.T) {
		old := Record("rotate revoked")
		mustInsert(t, s, old)
		if _, err := s.Revoke(ctx, old.ID, base); err != nil {
			t.Fatal(err)
		}
		next := Record("rotate revoked next")
		if _, err := s.Rotate(ctx, old.ID, base, next); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("err = %v, want ErrNotFound", err)
		}
		if _, err := s.ByID(ctx, next.ID); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("the new key was stored: ByID err = %v", err)
		}
	})
	t.Run("atomic on conflict", func(t *testing.T) {
		old := Record("rotate atomic")
		mustInsert(t, s, old)
		taken := Record("rotate taken")
		mustInsert(t, s, taken)
		next := Record("rotate taken") // same digest as taken
		if _, err := s.Rotate(ctx, old.ID, base, next); !errors.Is(err, apikey.ErrConflict) {
			t.Errorf("err = %v, want ErrConflict", err)
		}
		if d := equalRecords(mustByID(t, s, old.ID), old); d != "" {
			t.Errorf("a failed Rotate changed the old key: %s", d)
		}
		if _, err := s.ByID(ctx, next.ID); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("a failed Rotate stored the new key: ByID err = %v", err)
		}
	})
}

func testSetDigest(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	rec := Record("rehash old")
	mustInsert(t, s, rec)
	d := Record("rehash new").Digest
	if err := s.SetDigest(ctx, rec.ID, d, d, "hmac-sha256:00000000"); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("SetDigest with a stale old digest: err = %v, want ErrNotFound", err)
	}
	if err := s.SetDigest(ctx, rec.ID, rec.Digest, d, "hmac-sha256:00000000"); err != nil {
		t.Fatalf("SetDigest: %v", err)
	}
	got, err := s.ByDigest(ctx, d)
	if err != nil || got.ID != rec.ID || got.DigestScheme != "hmac-sha256:00000000" {
		t.Errorf("ByDigest(new digest) = %+v, %v", got, err)
	}
	if _, err := s.ByDigest(ctx, rec.Digest); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("ByDigest(old digest): err = %v, want ErrNotFound", err)
	}

	other := Record("rehash other")
	mustInsert(t, s, other)
	if err := s.SetDigest(ctx, other.ID, other.Digest, d, "sha256"); !errors.Is(err, apikey.ErrConflict) {
		t.Errorf("SetDigest to a digest in use: err = %v, want ErrConflict", err)
	}
	if got := mustByID(t, s, other.ID); got.Digest != other.Digest {
		t.Errorf("a conflicting SetDigest changed the digest")
	}
	if err := s.SetDigest(ctx, "no such id", other.Digest, Record("rehash x").Digest, "sha256"); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("SetDigest(unknown id): err = %v, want ErrNotFound", err)
	}
}

func testAddUsage(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	a, b := Record("usage a"), Record("usage b")
	mustInsert(t, s, a)
	mustInsert(t, s, b)
	t1, t2 := base.Add(time.Minute), base.Add(2*time.Minute)
	batches := [][]apikey.Usage{
		{{ID: a.ID, Count: 3, LastUsedAt: t2}, {ID: b.ID, Count: 1, LastUsedAt: t1}, {ID: "unknown", Count: 9, LastUsedAt: t2}},
		{{ID: a.ID, Count: 4, LastUsedAt: t1}}, // an older time must not move LastUsedAt back
	}
	for _, batch := range batches {
		if err := s.AddUsage(ctx, batch); err != nil {
			t.Fatalf("AddUsage: %v", err)
		}
	}
	if got := mustByID(t, s, a.ID); got.RequestCount != 7 || !got.LastUsedAt.Equal(t2) {
		t.Errorf("key a: RequestCount %d LastUsedAt %v; want 7, %v", got.RequestCount, got.LastUsedAt, t2)
	}
	if got := mustByID(t, s, b.ID); got.RequestCount != 1 || !got.LastUsedAt.Equal(t1) {
		t.Errorf("key b: RequestCount %d LastUsedAt %v; want 1, %v", got.RequestCount, got.LastUsedAt, t1)
	}
	if err := s.AddUsage(ctx, nil); err != nil {
		t.Errorf("AddUsage(nil): %v", err)
	}
}

// testAddUsageLargeBatch writes one batch of more keys than a SQL statement
// comfortably carries, with an ID repeated: every entry adds.
func testAddUsageLargeBatch(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	const n = 1000
	recs := make([]*apikey.Record, n)
	batch := make([]apikey.Usage, 0, n+1)
	for i := range recs {
		recs[i] = Record(fmt.Sprintf("usage batch %d", i))
		mustInsert(t, s, recs[i])
		batch = append(batch, apikey.Usage{ID: recs[i].ID, Count: int64(i + 1), LastUsedAt: base.Add(time.Duration(i) * time.Second)})
	}
	// The first key again, later: counts add up, the later time wins.
	batch = append(batch, apikey.Usage{ID: recs[0].ID, Count: 5, LastUsedAt: base.Add(time.Hour)})
	if err := s.AddUsage(ctx, batch); err != nil {
		t.Fatalf("AddUsage of %d entries: %v", len(batch), err)
	}
	for i, rec := range recs {
		wantCount, wantLast := int64(i+1), base.Add(time.Duration(i)*time.Second)
		if i == 0 {
			wantCount, wantLast = 6, base.Add(time.Hour)
		}
		if got := mustByID(t, s, rec.ID); got.RequestCount != wantCount || !got.LastUsedAt.Equal(wantLast) {
			t.Fatalf("key %d of the batch: RequestCount %d LastUsedAt %v; want %d, %v", i, got.RequestCount, got.LastUsedAt, wantCount, wantLast)
		}
	}
}

// testExactMatch checks that IDs and owner IDs match byte for byte, as Go
// compares strings: no case folding, no trailing-space padding, no
// normalization (as SQL collations may do).
func testExactMatch(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	owners := []string{"org", "Org", "ORG", "org ", "org\x00", "\u00e9", "e\u0301"}
	ids := make(map[string]string, len(owners))
	for i, owner := range owners {
		rec := Record(fmt.Sprintf("exact %d", i))
		rec.OwnerID = owner
		mustInsert(t, s, rec)
		ids[owner] = rec.ID
	}
	for _, owner := range owners {
		recs, err := s.List(ctx, apikey.ListOptions{OwnerID: owner, Limit: 10})
		if err != nil || len(recs) != 1 || recs[0].ID != ids[owner] {
			var got []string
			for _, r := range recs {
				got = append(got, r.OwnerID)
			}
			t.Errorf("List(OwnerID %q) = owners %q, %v; want exactly its one key", owner, got, err)
		}
	}
	id := ids["org"]
	for _, other := range []string{strings.ToUpper(id), id + " ", id + "\x00"} {
		if rec, err := s.ByID(ctx, other); !errors.Is(err, apikey.ErrNotFound) {
			t.Errorf("ByID(%q) = %v, %v; want ErrNotFound (the stored ID is %q)", other, rec, err, id)
		}
	}
}

// Hostile holds strings a store must keep verbatim: SQL, quotes, control
// characters, NUL, non-ASCII, and a long value.
var Hostile = []string{
	`'); DROP TABLE api_keys; --`,
	`" OR "1"="1`,
	`\'\"\\%_*?`,
	"line one\nline two\r\n\ttab",
	"nul\x00byte",
	"emoji 🔑 and ünïcödé, 日本語, \u202eRTL",
	`{"json": [1, 2, {"nested": null}]}`,
	"$1 ? :name @p1",
}

func testHostileStrings(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	for i, h := range Hostile {
		rec := Record(fmt.Sprintf("hostile %d", i))
		rec.Name = h
		rec.OwnerID = h
		rec.Metadata = map[string]string{h: h, "k": h}
		mustInsert(t, s, rec)
		if d := equalRecords(mustByID(t, s, rec.ID), rec); d != "" {
			t.Errorf("hostile string %q: %s", h, d)
		}
		recs, err := s.List(ctx, apikey.ListOptions{OwnerID: h, Limit: 10})
		if err != nil || len(recs) != 1 || recs[0].ID != rec.ID {
			t.Errorf("List(OwnerID %q) = %d records, %v; want exactly the one", h, len(recs), err)
		}
	}
	big := Record("hostile big")
	big.Metadata = map[string]string{"big": strings.Repeat("x'\"\\\x00", (16<<10)/5)}
	mustInsert(t, s, big)
	if d := equalRecords(mustByID(t, s, big.ID), big); d != "" {
		t.Errorf("16 KiB metadata: %s", d)
	}
	for i, name := range []string{"renamed '); DELETE FROM api_keys; --", "nul\x00again"} {
		rec := Record(fmt.Sprintf("hostile update %d", i))
		mustInsert(t, s, rec)
		if _, err := s.Update(ctx, rec.ID, apikey.UpdateParams{Name: ptr(name), Metadata: map[string]string{name: name}}); err != nil {
			t.Fatalf("Update: %v", err)
		}
		if got := mustByID(t, s, rec.ID); got.Name != name || got.Metadata[name] != name {
			t.Errorf("Update with %q stored name %q metadata %q", name, got.Name, got.Metadata)
		}
	}
	// The statements above must not have dropped or emptied anything.
	if recs, err := s.List(ctx, apikey.ListOptions{Limit: 100}); err != nil || len(recs) != len(Hostile)+3 {
		t.Errorf("after hostile strings List = %d records, %v; want %d", len(recs), err, len(Hostile)+3)
	}
}

func testConcurrent(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	const workers, perWorker = 8, 20
	shared := Record("concurrent shared")
	mustInsert(t, s, shared)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				rec := Record(fmt.Sprintf("concurrent %d %d", w, i))
				if err := s.Insert(ctx, rec); err != nil {
					t.Errorf("Insert: %v", err)
					return
				}
				if got, err := s.ByDigest(ctx, rec.Digest); err != nil || got.ID != rec.ID {
					t.Errorf("ByDigest right after Insert: %v, %v", got, err)
					return
				}
				if _, err := s.ByDigest(ctx, shared.Digest); err != nil {
					t.Errorf("ByDigest(shared): %v", err)
					return
				}
				if err := s.AddUsage(ctx, []apikey.Usage{{ID: shared.ID, Count: 1, LastUsedAt: base}}); err != nil {
					t.Errorf("AddUsage: %v", err)
					return
				}
			}
		}()
	}
	// Two revokes of one key race: exactly one wins.
	contested := Record("concurrent revoke")
	mustInsert(t, s, contested)
	var wins sync.WaitGroup
	results := make(chan error, 4)
	for range 4 {
		wins.Add(1)
		go func() {
			defer wins.Done()
			_, err := s.Revoke(ctx, contested.ID, base)
			results <- err
		}()
	}
	wg.Wait()
	wins.Wait()
	close(results)
	won := 0
	for err := range results {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, apikey.ErrNotFound):
			t.Errorf("concurrent Revoke: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d of 4 concurrent revokes succeeded, want exactly 1", won)
	}
	if got := mustByID(t, s, shared.ID); got.RequestCount != workers*perWorker {
		t.Errorf("RequestCount after concurrent AddUsage = %d, want %d", got.RequestCount, workers*perWorker)
	}
	recs, err := s.List(ctx, apikey.ListOptions{Limit: 1000})
	if err != nil || len(recs) != workers*perWorker+1 {
		t.Errorf("List after concurrent inserts = %d records, %v; want %d", len(recs), err, workers*perWorker+1)
	}
}

func testCanceledContext(t *testing.T, s apikey.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := Record("canceled")
	if err := s.Insert(ctx, rec); err == nil {
		t.Errorf("Insert with a canceled context succeeded")
	}
	if _, err := s.ByID(context.Background(), rec.ID); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("Insert with a canceled context stored the record: ByID err = %v", err)
	}
}

func ptr[T any](v T) *T { return &v }

func testQuota(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	day0 := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	day1 := day0.AddDate(0, 0, 1)
	daily := Record("quota daily")
	daily.Quota = &apikey.Quota{Limit: 5, Remaining: 5, Refill: apikey.RefillDaily, PeriodStart: day0}
	mustInsert(t, s, daily)

	consume := func(id string, cost int64, start time.Time) (int64, error) {
		t.Helper()
		return s.ConsumeQuota(ctx, id, cost, start)
	}
	if left, err := consume(daily.ID, 2, day0); err != nil || left != 3 {
		t.Errorf("ConsumeQuota(2) = %d, %v; want 3", left, err)
	}
	if left, err := consume(daily.ID, 4, day0); !errors.Is(err, apikey.ErrQuotaExceeded) || left != 3 {
		t.Errorf("ConsumeQuota(4) with 3 left = %d, %v; want 3, ErrQuotaExceeded (nothing taken)", left, err)
	}
	if left, err := consume(daily.ID, 3, day0); err != nil || left != 0 {
		t.Errorf("ConsumeQuota(3) = %d, %v; want 0", left, err)
	}
	if _, err := consume(daily.ID, 1, day0); !errors.Is(err, apikey.ErrQuotaExceeded) {
		t.Errorf("ConsumeQuota on an empty quota: err = %v, want ErrQuotaExceeded", err)
	}
	if left, err := consume(daily.ID, 1, day1); err != nil || left != 4 {
		t.Errorf("ConsumeQuota in the next period = %d, %v; want a refill to 5, then 4", left, err)
	}
	got := mustByID(t, s, daily.ID)
	if got.Quota == nil || got.Quota.Remaining != 4 || !got.Quota.PeriodStart.Equal(day1) {
		t.Errorf("after the refill the quota is %+v; want 4 remaining from %v", got.Quota, day1)
	}
	if left, err := consume(daily.ID, 1, day0); err != nil || left != 3 {
		t.Errorf("a stale period start must not refill again: %d, %v; want 3", left, err)
	}

	once := Record("quota once")
	once.Quota = &apikey.Quota{Limit: 2, Remaining: 2}
	mustInsert(t, s, once)
	for range 2 {
		if _, err := consume(once.ID, 1, time.Time{}); err != nil {
			t.Fatalf("ConsumeQuota: %v", err)
		}
	}
	if _, err := consume(once.ID, 1, day1); !errors.Is(err, apikey.ErrQuotaExceeded) {
		t.Errorf("a quota without refill never refills: err = %v", err)
	}

	none := Record("quota none")
	mustInsert(t, s, none)
	if _, err := consume(none.ID, 1, day0); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("ConsumeQuota on a key without quota: err = %v, want ErrNotFound", err)
	}
	if _, err := consume("no such id", 1, day0); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("ConsumeQuota on an unknown key: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Revoke(ctx, daily.ID, base); err != nil {
		t.Fatal(err)
	}
	if _, err := consume(daily.ID, 1, day1); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("ConsumeQuota on a revoked key: err = %v, want ErrNotFound", err)
	}
}

func testQuotaRefund(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	day0 := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	day1 := day0.AddDate(0, 0, 1)
	remaining := func(id string) int64 {
		t.Helper()
		return mustByID(t, s, id).Quota.Remaining
	}
	daily := Record("refund daily")
	daily.Quota = &apikey.Quota{Limit: 5, Remaining: 5, Refill: apikey.RefillDaily, PeriodStart: day0}
	mustInsert(t, s, daily)
	if _, err := s.ConsumeQuota(ctx, daily.ID, 3, day0); err != nil {
		t.Fatal(err)
	}
	if err := s.RefundQuota(ctx, daily.ID, 2, day0); err != nil || remaining(daily.ID) != 4 {
		t.Errorf("RefundQuota(2) with 2 left: %v, remaining %d; want 4", err, remaining(daily.ID))
	}
	if err := s.RefundQuota(ctx, daily.ID, 5, day0); err != nil || remaining(daily.ID) != 5 {
		t.Errorf("RefundQuota(5) with 4 left: %v, remaining %d; want the limit, 5", err, remaining(daily.ID))
	}
	if err := s.RefundQuota(ctx, daily.ID, 1, day0); err != nil || remaining(daily.ID) != 5 {
		t.Errorf("RefundQuota on a full budget: %v, remaining %d; want nil, 5", err, remaining(daily.ID))
	}
	if _, err := s.ConsumeQuota(ctx, daily.ID, 2, day1); err != nil { // refilled to 5, then 3
		t.Fatal(err)
	}
	if err := s.RefundQuota(ctx, daily.ID, 2, day0); err != nil || remaining(daily.ID) != 3 {
		t.Errorf("RefundQuota for a period that is over: %v, remaining %d; want a no-op, 3", err, remaining(daily.ID))
	}
	if err := s.RefundQuota(ctx, daily.ID, 1, day1); err != nil || remaining(daily.ID) != 4 {
		t.Errorf("RefundQuota in the current period: %v, remaining %d; want 4", err, remaining(daily.ID))
	}
	if got := mustByID(t, s, daily.ID).Quota; !got.PeriodStart.Equal(day1) || got.Limit != 5 {
		t.Errorf("RefundQuota changed the period or limit: %+v", got)
	}

	once := Record("refund once")
	once.Quota = &apikey.Quota{Limit: 2, Remaining: 2}
	mustInsert(t, s, once)
	for range 2 {
		if _, err := s.ConsumeQuota(ctx, once.ID, 1, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RefundQuota(ctx, once.ID, 1, time.Time{}); err != nil || remaining(once.ID) != 1 {
		t.Errorf("RefundQuota without refill: %v, remaining %d; want 1", err, remaining(once.ID))
	}

	none := Record("refund none")
	mustInsert(t, s, none)
	if err := s.RefundQuota(ctx, none.ID, 1, day0); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("RefundQuota on a key without quota: err = %v, want ErrNotFound", err)
	}
	if err := s.RefundQuota(ctx, "no such id", 1, day0); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("RefundQuota on an unknown key: err = %v, want ErrNotFound", err)
	}
	if _, err := s.Revoke(ctx, once.ID, base); err != nil {
		t.Fatal(err)
	}
	if err := s.RefundQuota(ctx, once.ID, 1, time.Time{}); !errors.Is(err, apikey.ErrNotFound) {
		t.Errorf("RefundQuota on a revoked key: err = %v, want ErrNotFound", err)
	}
}

// rotationChain inserts a key with quota q and rotates it n times, each
// with a grace period that keeps every key live. It returns the chain,
// oldest first.
func rotationChain(t *testing.T, s apikey.Store, seed string, q apikey.Quota, n int) []*apikey.Record {
	t.Helper()
	first := Record(seed)
	first.Quota = &q
	mustInsert(t, s, first)
	chain := []*apikey.Record{first}
	for i := range n {
		next := Record(fmt.Sprintf("%s rotated %d", seed, i+1))
		next.Quota = &apikey.Quota{Limit: q.Limit, Remaining: q.Limit, Refill: q.Refill} // stale: the store decides
		if _, err := s.Rotate(context.Background(), chain[i].ID, base.AddDate(0, 0, 30), next); err != nil {
			t.Fatalf("Rotate %d: %v", i+1, err)
		}
		chain = append(chain, next)
	}
	return chain
}

// drain consumes 1 at a time from the keys of chain in turn, in the period
// starting at start, until every key is refused, and returns how many
// consumptions succeeded.
func drain(t *testing.T, s apikey.Store, chain []*apikey.Record, start time.Time) int {
	t.Helper()
	n := 0
	for refused := 0; refused < len(chain); {
		refused = 0
		for _, rec := range chain {
			_, err := s.ConsumeQuota(context.Background(), rec.ID, 1, start)
			switch {
			case err == nil:
				n++
			case errors.Is(err, apikey.ErrQuotaExceeded):
				refused++
			default:
				t.Fatalf("ConsumeQuota(%s): %v", rec.ID, err)
			}
		}
		if n > 1000 {
			t.Fatalf("the chain's budget never runs out")
		}
	}
	return n
}

// A rotation chain has one budget, on its newest key: however many keys it
// has, a period gives no more than the limit, and a rotated key's own
// quota never refills.
func testQuotaRotationChain(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	day0 := time.Date(2026, 3, 14, 0, 0, 0, 0, time.UTC)
	day1, day2 := day0.AddDate(0, 0, 1), day0.AddDate(0, 0, 2)
	for n := 1; n <= 4; n++ {
		t.Run(fmt.Sprintf("%d rotations", n), func(t *testing.T) {
			q := apikey.Quota{Limit: 10, Remaining: 6, Refill: apikey.RefillDaily, PeriodStart: day0}
			chain := rotationChain(t, s, fmt.Sprintf("chain %d", n), q, n)
			head := chain[n]
			if got := drain(t, s, chain, day0); got != 6 {
				t.Errorf("day 0: the chain of %d keys gave %d, want the 6 left", n+1, got)
			}
			if got := drain(t, s, chain, day1); got != 10 {
				t.Errorf("day 1: the chain of %d keys gave %d, want the limit of 10", n+1, got)
			}
			for _, rec := range chain[:n] {
				if q := mustByID(t, s, rec.ID).Quota; q == nil || q.Remaining != 0 {
					t.Errorf("rotated key %s has its own budget: %+v", rec.ID, q)
				}
			}
			if q := mustByID(t, s, head.ID).Quota; q.Remaining != 0 || !q.PeriodStart.Equal(day1) {
				t.Errorf("the newest key's quota is %+v, want 0 left in %v", q, day1)
			}

			// A refund through any key goes back to the one budget.
			if left, err := s.ConsumeQuota(ctx, chain[0].ID, 3, day2); err != nil || left != 7 {
				t.Fatalf("ConsumeQuota(oldest, 3) on day 2 = %d, %v; want 7", left, err)
			}
			if err := s.RefundQuota(ctx, chain[0].ID, 3, day2); err != nil {
				t.Errorf("RefundQuota(oldest): %v", err)
			}
			if err := s.RefundQuota(ctx, chain[n-1].ID, 5, day1); err != nil {
				t.Errorf("RefundQuota for a period that is over: %v", err)
			}
			if q := mustByID(t, s, head.ID).Quota; q.Remaining != 10 {
				t.Errorf("after the refunds the budget is %d, want 10", q.Remaining)
			}
			for _, rec := range chain[:n] {
				if q := mustByID(t, s, rec.ID).Quota; q.Remaining != 0 {
					t.Errorf("a refund went to rotated key %s: %+v", rec.ID, q)
				}
			}

			// Revoking the newest key takes the budget with it.
			if _, err := s.Revoke(ctx, head.ID, base); err != nil {
				t.Fatal(err)
			}
			for _, rec := range chain[:n] {
				if left, err := s.ConsumeQuota(ctx, rec.ID, 1, day2); !errors.Is(err, apikey.ErrQuotaExceeded) || left != 0 {
					t.Errorf("ConsumeQuota(%s) with the newest key revoked = %d, %v; want 0, ErrQuotaExceeded", rec.ID, left, err)
				}
				if err := s.RefundQuota(ctx, rec.ID, 1, day2); err != nil {
					t.Errorf("RefundQuota(%s) with the newest key revoked: %v, want a no-op", rec.ID, err)
				}
			}
			if _, err := s.Revoke(ctx, chain[0].ID, base); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ConsumeQuota(ctx, chain[0].ID, 1, day2); !errors.Is(err, apikey.ErrNotFound) {
				t.Errorf("ConsumeQuota on a revoked rotated key: err = %v, want ErrNotFound", err)
			}
			if err := s.RefundQuota(ctx, chain[0].ID, 1, day2); !errors.Is(err, apikey.ErrNotFound) {
				t.Errorf("RefundQuota on a revoked rotated key: err = %v, want ErrNotFound", err)
			}
		})
	}
	t.Run("a rotated key between", func(t *testing.T) {
		// Revoking a key in the middle cuts its own grace short, not the
		// older keys' link to the budget.
		chain := rotationChain(t, s, "chain middle", apikey.Quota{Limit: 4, Remaining: 4, Refill: apikey.RefillDaily, PeriodStart: day0}, 2)
		if _, err := s.Revoke(ctx, chain[1].ID, base); err != nil {
			t.Fatal(err)
		}
		if left, err := s.ConsumeQuota(ctx, chain[0].ID, 1, day0); err != nil || left != 3 {
			t.Errorf("ConsumeQuota(oldest) = %d, %v; want 3 left on the newest key", left, err)
		}
	})
	t.Run("longest chain", func(t *testing.T) {
		// MaxRotationChain links are followed; a key further away from the
		// budget is refused, never given a budget of its own.
		chain := rotationChain(t, s, "chain long", apikey.Quota{Limit: 5, Remaining: 5}, apikey.MaxRotationChain)
		if left, err := s.ConsumeQuota(ctx, chain[0].ID, 1, time.Time{}); err != nil || left != 4 {
			t.Errorf("ConsumeQuota %d links from the budget = %d, %v; want 4", apikey.MaxRotationChain, left, err)
		}
		next := Record("chain long next")
		if _, err := s.Rotate(ctx, chain[len(chain)-1].ID, base.AddDate(0, 0, 30), next); err != nil {
			t.Fatal(err)
		}
		if left, err := s.ConsumeQuota(ctx, chain[0].ID, 1, time.Time{}); !errors.Is(err, apikey.ErrQuotaExceeded) || left != 0 {
			t.Errorf("ConsumeQuota %d links from the budget = %d, %v; want 0, ErrQuotaExceeded", apikey.MaxRotationChain+1, left, err)
		}
		if err := s.RefundQuota(ctx, chain[0].ID, 1, time.Time{}); err != nil {
			t.Errorf("RefundQuota beyond the chain's bound: %v, want a no-op", err)
		}
		if left, err := s.ConsumeQuota(ctx, chain[1].ID, 1, time.Time{}); err != nil || left != 3 {
			t.Errorf("ConsumeQuota %d links from the budget = %d, %v; want 3", apikey.MaxRotationChain, left, err)
		}
	})
	t.Run("concurrent rotation", func(t *testing.T) {
		// Requests of the oldest key while the newest rotates again: the
		// budget moves once, and nothing is drawn from a drained key.
		chain := rotationChain(t, s, "chain racing", apikey.Quota{Limit: 40, Remaining: 40}, 1)
		var wg sync.WaitGroup
		var mu sync.Mutex
		ok := 0
		for range 4 {
			wg.Go(func() {
				for range 15 {
					_, err := s.ConsumeQuota(ctx, chain[0].ID, 1, time.Time{})
					if err != nil && !errors.Is(err, apikey.ErrQuotaExceeded) {
						t.Errorf("ConsumeQuota: %v", err)
						return
					}
					if err == nil {
						mu.Lock()
						ok++
						mu.Unlock()
					}
				}
			})
		}
		prev := chain[1]
		for i := range 3 {
			next := Record(fmt.Sprintf("chain racing next %d", i))
			if _, err := s.Rotate(ctx, prev.ID, base.AddDate(0, 0, 30), next); err != nil {
				t.Fatalf("Rotate: %v", err)
			}
			prev = next
		}
		wg.Wait()
		left := mustByID(t, s, prev.ID).Quota.Remaining
		if ok != 40 || left != 0 {
			t.Errorf("%d of 60 consumptions succeeded and %d remain; want 40 and 0", ok, left)
		}
	})
}

// Concurrent requests through every key of a chain never overdraw its one
// budget.
func testQuotaRotationChainConcurrent(t *testing.T, s apikey.Store) {
	chain := rotationChain(t, s, "chain concurrent", apikey.Quota{Limit: 30, Remaining: 30}, 3)
	var wg sync.WaitGroup
	var mu sync.Mutex
	succeeded := 0
	for i := range 8 {
		wg.Go(func() {
			for j := range 10 {
				_, err := s.ConsumeQuota(context.Background(), chain[(i+j)%len(chain)].ID, 1, time.Time{})
				switch {
				case err == nil:
					mu.Lock()
					succeeded++
					mu.Unlock()
				case !errors.Is(err, apikey.ErrQuotaExceeded):
					t.Errorf("ConsumeQuota: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if succeeded != 30 {
		t.Errorf("%d of 80 concurrent consumptions across a chain of 4 succeeded, want exactly the limit of 30", succeeded)
	}
}

// Concurrent requests never overdraw: exactly Limit of them succeed.
func testQuotaConcurrent(t *testing.T, s apikey.Store) {
	ctx := context.Background()
	rec := Record("quota concurrent")
	rec.Quota = &apikey.Quota{Limit: 30, Remaining: 30}
	mustInsert(t, s, rec)
	var ok sync.WaitGroup
	var mu sync.Mutex
	succeeded := 0
	for range 6 {
		ok.Add(1)
		go func() {
			defer ok.Done()
			for range 10 {
				_, err := s.ConsumeQuota(ctx, rec.ID, 1, time.Time{})
				switch {
				case err == nil:
					mu.Lock()
					succeeded++
					mu.Unlock()
				case !errors.Is(err, apikey.ErrQuotaExceeded):
					t.Errorf("ConsumeQuota: %v", err)
					return
				}
			}
		}()
	}
	ok.Wait()
	if succeeded != 30 {
		t.Errorf("%d of 60 concurrent consumptions succeeded, want exactly the limit of 30", succeeded)
	}
	if got := mustByID(t, s, rec.ID); got.Quota.Remaining != 0 {
		t.Errorf("Remaining = %d, want 0", got.Quota.Remaining)
	}
}

// pageThrough follows a keyset-paginated listing to its end: fetch returns
// the page after the given ID, of at most limit items; a short page is the
// last. It returns every item's ID in the order listed.
func pageThrough[T any](t *testing.T, limit int, fetch func(after string) ([]T, error), id func(T) string) []string {
	t.Helper()
	var ids []string
	after := ""
	for range 100 {
		page, err := fetch(after)
		if err != nil {
			t.Fatalf("listing after %q: %v", after, err)
		}
		if len(page) > limit {
			t.Fatalf("listing returned %d items, more than the limit %d", len(page), limit)
		}
		for _, item := range page {
			ids = append(ids, id(item))
		}
		if len(page) < limit {
			return ids
		}
		after = id(page[len(page)-1])
	}
	t.Fatal("listing never returned a short page")
	return nil
}

// listIDs lists every record opts selects, a page of opts.Limit at a time.
func listIDs(t *testing.T, s apikey.Store, opts apikey.ListOptions) []string {
	t.Helper()
	return pageThrough(t, opts.Limit, func(after string) ([]*apikey.Record, error) {
		o := opts
		o.After = after
		return s.List(context.Background(), o)
	}, func(r *apikey.Record) string { return r.ID })
}
