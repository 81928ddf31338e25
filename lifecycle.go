package apikey

import "time"

// Lifecycle queries
//
// Keys are disabled and enabled (reversibly), revoked (for good), and
// expire; WithMaxLifetime caps how long they live. ListOptions finds the
// keys a host should act on:
//
//	// active keys that expire within two weeks: warn their owners
//	m.List(ctx, ListOptions{Status: StatusActive, ExpiringBefore: now.Add(14 * 24 * time.Hour)})
//	// keys unused for 90 days (or never): review them, as the reference docs advise
//	m.List(ctx, ListOptions{Status: StatusActive, UnusedSince: now.Add(-90 * 24 * time.Hour)})

// lifecycleDefaults checks opts' lifecycle filters and sets At. Times are
// cut to microseconds, the precision every store compares at.
func (m *Manager) lifecycleDefaults(opts *ListOptions) error {
	opts.ExpiringBefore = opts.ExpiringBefore.Truncate(time.Microsecond)
	opts.UnusedSince = opts.UnusedSince.Truncate(time.Microsecond)
	opts.At = opts.At.Truncate(time.Microsecond)
	switch opts.Status {
	case "":
		return nil
	case StatusActive, StatusRevoked, StatusExpired, StatusDisabled:
	default:
		return paramErr("status", "must be active, revoked, expired or disabled")
	}
	if opts.At.IsZero() {
		opts.At = m.timestamp()
	}
	return nil
}

// Matches reports whether k passes opts' filters other than paging: owner,
// revocation and the lifecycle filters. Stores without a query language
// (memstore) use it.
func (opts *ListOptions) Matches(k *Key) bool {
	switch {
	case opts.OwnerID != "" && k.OwnerID != opts.OwnerID:
		return false
	case opts.Status != "":
		if k.Status(opts.At) != opts.Status {
			return false
		}
	case !opts.IncludeRevoked && !k.RevokedAt.IsZero():
		return false
	}
	if !opts.ExpiringBefore.IsZero() && (k.ExpiresAt.IsZero() || !k.ExpiresAt.Before(opts.ExpiringBefore)) {
		return false
	}
	if !opts.UnusedSince.IsZero() && (!k.CreatedAt.Before(opts.UnusedSince) ||
		!k.LastUsedAt.IsZero() && !k.LastUsedAt.Before(opts.UnusedSince)) {
		return false
	}
	return true
}

// MaxLifetime returns the cap set with WithMaxLifetime, 0 for none.
func (m *Manager) MaxLifetime() time.Duration { return m.maxLifetime }

// pageLimit applies the paging rules of List and ListAudit: 0 means 100,
// more than 1000 means 1000, negative is an error.
func pageLimit(n int) (int, error) {
	switch {
	case n < 0:
		return 0, paramErr("limit", "must not be negative")
	case n == 0:
		return defaultLimit, nil
	}
	return min(n, maxLimit), nil
}
