package apikey

import (
	"context"
	"time"
)

// Record is what a Store keeps for one key: the Key and the digest it is
// found by. A Store never sees the key itself.
type Record struct {
	Key
	// Digest is SHA-256 or HMAC-SHA-256 of the key (see DigestScheme).
	// Unique across the store.
	Digest Digest
	// DigestScheme names how Digest was computed: "sha256/v2" or
	// "hmac-sha256/v2:<pepper id>" (the key without its checksum), or the
	// older "sha256" and "hmac-sha256:<pepper id>" (the whole key). Kept so
	// that peppers and schemes can change.
	DigestScheme string
}

// Clone returns a deep copy of r.
func (r *Record) Clone() *Record {
	c := *r
	c.Key = *r.Key.Clone()
	return &c
}

// UpdateParams changes the mutable fields of a key. A nil field is left as
// it is; a non-nil empty Metadata map clears the metadata.
type UpdateParams struct {
	Name     *string
	Metadata map[string]string
	Disabled *bool
}

// Usage is a batch entry of usage counts for one key, written behind the
// verify path (see Manager).
type Usage struct {
	ID         string
	Count      int64     // requests since the previous flush; added
	LastUsedAt time.Time // the latest use in the batch; LastUsedAt only moves forward
}

// ListOptions selects and pages keys. Keys are listed in ascending ID order;
// IDs are UUIDv7, so that is creation order.
//
// Keys are disabled and enabled (reversibly), revoked (for good), and
// expire; WithMaxLifetime caps how long they live. ListOptions finds the
// keys a host should act on:
//
//	// active keys that expire within two weeks: warn their owners
//	m.List(ctx, ListOptions{Status: StatusActive, ExpiringBefore: now.Add(14 * 24 * time.Hour)})
//	// keys unused for 90 days (or never): review them, as the reference docs advise
//	m.List(ctx, ListOptions{Status: StatusActive, UnusedSince: now.Add(-90 * 24 * time.Hour)})
type ListOptions struct {
	// OwnerID limits the list to one owner's keys; empty lists every owner.
	OwnerID string
	// IncludeRevoked lists revoked keys too (they stay for audit).
	IncludeRevoked bool
	// Limit is the page size: 0 means 100; the Manager caps it at 1000.
	Limit int
	// After is the ID of the previous page's last key; empty starts at the
	// beginning.
	After string

	// Lifecycle filters (see lifecycle.go); zero values do not filter.

	// Status keeps only keys in this state at At, as Key.Status computes
	// it. StatusRevoked lists revoked keys whatever IncludeRevoked says;
	// the other states exclude them.
	Status Status
	// At is the time Status is evaluated at. The Manager sets it to now
	// when Status is set.
	At time.Time
	// ExpiringBefore keeps keys with an ExpiresAt before it (keys that
	// never expire are left out).
	ExpiringBefore time.Time
	// UnusedSince keeps idle keys: created before it and not used since
	// (LastUsedAt before it, or never used). Uses not yet written behind
	// (see Manager) are not seen.
	UnusedSince time.Time
}

// MaxRotationChain is how many RotatedToID links a Store follows from a
// key to the newest key of its rotation chain, whose budget the chain's
// quota is (see Store.ConsumeQuota). Beyond it, the budget is out of reach
// and the key is refused as over its quota.
const MaxRotationChain = 32

// Store persists key records. Implementations live in the store/ packages;
// store/storetest checks any implementation against this contract.
//
// The contract:
//   - Every method takes a context first and honours its cancellation.
//   - A Store receives digests, never keys.
//   - "Not found" is reported as an error matching ErrNotFound, and
//     ErrConflict where stated. Every other error is a backend failure: the
//     Manager reports it as ErrStoreUnavailable and fails closed.
//   - Records passed in belong to the caller: a Store copies what it keeps.
//     Records returned may be shared by many callers and must not be
//     modified; a Store never modifies a record it has returned (updates
//     replace records).
//   - Strings and metadata are stored and returned verbatim: any UTF-8,
//     including NUL, quotes and SQL text. Times are returned in UTC, with at
//     least microsecond precision.
//   - All methods are safe for concurrent use. Writes are atomic: a reader
//     sees a record before or after a write, never half of it.
type Store interface {
	// Insert adds a new record. ErrConflict if its ID or Digest exists.
	Insert(ctx context.Context, rec *Record) error

	// ByDigest returns the record with this digest (revoked or not), or
	// ErrNotFound. This is the verify path: it must be fast and must not
	// write.
	ByDigest(ctx context.Context, d Digest) (*Record, error)

	// ByID returns the record with this ID (revoked or not), or ErrNotFound.
	ByID(ctx context.Context, id string) (*Record, error)

	// List returns at most opts.Limit records (opts.Limit > 0) in ascending
	// ID order with ID > opts.After, filtered by owner, revocation and the
	// lifecycle filters of opts, all of which must hold.
	List(ctx context.Context, opts ListOptions) ([]*Record, error)

	// Update applies p to a key that exists and is not revoked, and returns
	// the updated record; ErrNotFound otherwise.
	Update(ctx context.Context, id string, p UpdateParams) (*Record, error)

	// Revoke sets RevokedAt = at on a key that exists and is not revoked,
	// and returns the revoked record; ErrNotFound otherwise.
	Revoke(ctx context.Context, id string, at time.Time) (*Record, error)

	// Rotate atomically inserts next and, on the key oldID, sets
	// RotatedToID = next.ID and ExpiresAt = min(ExpiresAt, graceEnd) (a zero
	// ExpiresAt counts as infinitely late). next.RotatedFromID is oldID. If
	// the old key has a quota, its budget as it stands moves to next (whose
	// own Quota is replaced) and the old key's Remaining becomes 0 for good
	// (see ConsumeQuota), so a rotation never adds budget. It returns the
	// updated old record. ErrNotFound if oldID does not exist or is
	// revoked; ErrConflict if it was already rotated or next collides.
	Rotate(ctx context.Context, oldID string, graceEnd time.Time, next *Record) (*Record, error)

	// SetDigest replaces the digest of key id (re-hashing under the current
	// pepper) if its current digest is old. It reports ErrNotFound when the
	// key does not exist or its digest is no longer old (another instance
	// won), ErrConflict if d collides.
	SetDigest(ctx context.Context, id string, old, d Digest, scheme string) error

	// ConsumeQuota atomically takes cost from the budget of key id and
	// returns what remains. A key's budget is its own quota until it is
	// rotated; from then on, it is the budget of the newest key of its
	// rotation chain (followed through RotatedToID, at most
	// MaxRotationChain links, revoked keys between included), so every key
	// of a chain draws on one budget and a rotated key's own quota is
	// never touched again (it never refills). If the budget refills and
	// its stored period started before periodStart, it is first reset to
	// its limit and its period to periodStart. When fewer than cost remain
	// it takes nothing and returns the remaining count with an error
	// matching ErrQuotaExceeded; so it does, with 0, when the budget is
	// gone: the newest key is revoked (or lacks a quota), or the chain is
	// longer than MaxRotationChain. ErrNotFound if key id does not exist,
	// is revoked, or has no quota. A key never rotated costs one
	// conditional write; following a chain happens only when that write
	// finds the key rotated.
	ConsumeQuota(ctx context.Context, id string, cost int64, periodStart time.Time) (int64, error)

	// RefundQuota atomically gives cost back to the budget that a
	// ConsumeQuota(ctx, id, cost, periodStart) took it from (the same key,
	// or the newest of its rotation chain), for a request refused after
	// its quota was charged. The budget never rises above its limit. It is
	// a no-op (nil) when that budget's stored period is no longer
	// periodStart (a refill happened since: the credit belongs to a period
	// that is over) or the budget is gone. ErrNotFound if key id does not
	// exist, is revoked, or has no quota.
	RefundQuota(ctx context.Context, id string, cost int64, periodStart time.Time) error

	// AddUsage adds each entry's Count to RequestCount and moves LastUsedAt
	// forward to the entry's LastUsedAt if that is later. Unknown IDs are
	// skipped. Additive, so many instances may share one store.
	AddUsage(ctx context.Context, usage []Usage) error
}
