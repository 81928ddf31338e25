// Package listfilter holds the rule of which keys a ListOptions selects,
// for stores without a query language (memstore).
package listfilter

import "github.com/keyward/apikey"

// Matches reports whether k passes opts' filters other than paging: owner,
// revocation and the lifecycle filters.
func Matches(opts *apikey.ListOptions, k *apikey.Key) bool {
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
