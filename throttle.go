package apikey

import (
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// failureThrottle counts failed authentications per client address. The
// success path pays one atomic load: only while some client is blocked
// does it look the client up. Blocks expire by themselves: the set is swept
// at most once a second, and it never holds more than maxBlocked clients.
type failureThrottle struct {
	limit   Limit
	buckets *localLimiter
	trusted []netip.Prefix

	mu        sync.Mutex
	blocked   map[string]time.Time // client -> blocked until
	nblocked  atomic.Int32         // len(blocked), read without the lock
	lastSweep time.Time
}

const maxBlocked = 1 << 16

func newFailureThrottle(l Limit, trusted []netip.Prefix) *failureThrottle {
	return &failureThrottle{limit: l, buckets: newLocalLimiter(maxBlocked), trusted: trusted, blocked: map[string]time.Time{}}
}

// blockedFor returns how long client must wait, or 0.
func (f *failureThrottle) blockedFor(client string, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sweepLocked(now, false)
	until, ok := f.blocked[client]
	if !ok || !now.Before(until) {
		return 0
	}
	return until.Sub(now)
}

// sweepLocked drops expired blocks, at most once a second unless forced.
func (f *failureThrottle) sweepLocked(now time.Time, force bool) {
	if !force && now.Sub(f.lastSweep) < time.Second {
		return
	}
	f.lastSweep = now
	for c, until := range f.blocked {
		if !now.Before(until) {
			delete(f.blocked, c)
		}
	}
	f.nblocked.Store(int32(len(f.blocked)))
}

// failed counts one failure of client; when its budget is spent, the client
// is blocked until one more failure would be allowed.
func (f *failureThrottle) failed(client string, now time.Time) {
	req := [1]LimitRequest{{Key: LimitKey{Policy: "auth_failures", Subject: client}, Limit: f.limit, Cost: 1}}
	d := f.buckets.allow(now, req[:])
	switch {
	case d.Allowed && d.Remaining > 0:
		return
	case d.Allowed:
		d.RetryAfter = durationFor(1, f.limit) // that was the last one: the next must wait
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.blocked) >= maxBlocked {
		f.sweepLocked(now, true)
		if len(f.blocked) >= maxBlocked {
			return // full of live blocks: the client's own bucket still counts it
		}
	}
	f.blocked[strings.Clone(client)] = now.Add(d.RetryAfter)
	f.nblocked.Store(int32(len(f.blocked)))
}

// clientAddr names the client for the throttle: the peer's IP address, or
// with trusted proxies the right-most address of X-Forwarded-For that is not
// a trusted proxy. Ports are dropped, IPv4-mapped addresses unmapped, and
// IPv6 addresses counted per /64 (what one subscriber usually holds). A
// chain that stops parsing ends at the last address that did.
func (f *failureThrottle) clientAddr(r *http.Request) string {
	peer, ok := parseHost(r.RemoteAddr)
	if !ok {
		return r.RemoteAddr
	}
	if len(f.trusted) == 0 || !f.isTrusted(peer) {
		return clientKey(peer)
	}
	last := peer
	xff := r.Header["X-Forwarded-For"]
	for i := len(xff) - 1; i >= 0; i-- {
		entries := strings.Split(xff[i], ",")
		for j := len(entries) - 1; j >= 0; j-- {
			a, ok := parseHost(entries[j])
			if !ok {
				return clientKey(last)
			}
			if !f.isTrusted(a) {
				return clientKey(a)
			}
			last = a
		}
	}
	return clientKey(last)
}

func (f *failureThrottle) isTrusted(a netip.Addr) bool {
	for _, p := range f.trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// parseHost reads "ip", "ip:port", "[v6]" or "[v6]:port".
func parseHost(s string) (netip.Addr, bool) {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, false
	}
	return a.WithZone("").Unmap(), true
}

func clientKey(a netip.Addr) string {
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}
