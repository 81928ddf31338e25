package apikey

import (
	"net/http"
	"net/netip"
)

// LimiterBuckets reports how many buckets l holds.
func LimiterBuckets(l Limiter) int { return l.(*localLimiter).buckets() }

// DraftFields exposes the IETF RateLimit serialisation for its test.
var DraftFields = draftFields

// BlockedClients reports how many clients a middleware's failure throttle
// blocks now (as its success path sees it).
func BlockedClients(h any) int32 { return h.(*authMiddleware).throttle.nblocked.Load() }

// ClientAddr is the throttle's name for the client of r.
func ClientAddr(r *http.Request, trusted ...netip.Prefix) string {
	return newFailureThrottle(PerMinute(1), trusted).clientAddr(r)
}

// OWASPEvent exposes the slog sink's vocabulary for its test.
var OWASPEvent = owaspEvent

// DigestScheme names the scheme new keys are digested with: "sha256/v2", or
// "hmac-sha256/v2:<pepper id>" under WithPepper. Records of other schemes
// are re-hashed to it when their key is used.
func (m *Manager) DigestScheme() string { return m.schemes[0].name }
