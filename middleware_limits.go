package apikey

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/apikey/internal/jsonerr"
)

// Rate limits in the middleware: the X-RateLimit-* headers, the IETF
// RateLimit fields, route limits, and the throttle on authentication
// failures per client address.

// Cost sets what each request through this middleware takes from the
// key's rate limits and quota (default 1), e.g. 10 for an expensive route
// group mounted behind its own middleware.
func Cost(n int) MiddlewareOption { return func(c *middlewareConfig) { c.cost = n } }

// RateLimitHeadersDraft also sends the RateLimit-Policy and RateLimit fields
// of draft-ietf-httpapi-ratelimit-headers-11 beside X-RateLimit-*.
func RateLimitHeadersDraft() MiddlewareOption {
	return func(c *middlewareConfig) { c.draftHeaders = true }
}

// ThrottleFailures sets how many failed authentications one client address
// may make (default 60 per minute): past it, a request of the client that
// presents an API key gets 429 before any store work, until its budget
// refills (one without an API key, anonymous or for a Fallback, is
// answered as usual: it costs no lookup), unless it presents a key whose
// record is in the verification cache (finding out costs one digest of a
// well-formed key; anything else is refused before hashing). Only failures count, and
// they are counted per address, never per key: a stranger cannot lock a
// real key out. A zero Limit turns the throttle off.
func ThrottleFailures(l Limit) MiddlewareOption {
	return func(c *middlewareConfig) { c.throttle, c.throttleSet = l, true }
}

// TrustedProxies lists the proxies whose X-Forwarded-For is believed: the
// client address is the right-most address in it that is not a trusted
// proxy. Without it, the client is the connection's peer, and
// X-Forwarded-For is ignored (anyone could write it).
func TrustedProxies(prefixes ...netip.Prefix) MiddlewareOption {
	return func(c *middlewareConfig) { c.trusted = append([]netip.Prefix{}, prefixes...) }
}

// setRateLimitHeaders describes d in X-RateLimit-Limit, -Remaining and
// -Reset (Unix epoch seconds, rounded up, as GitHub sends it), and in the
// IETF fields when asked.
// A quota that never refills has no reset time: Reset and t are left out.
func setRateLimitHeaders(h http.Header, d Decision, draft bool, p *limitPolicy) {
	if d.Policy == "" {
		return // no limit applied
	}
	h["X-Ratelimit-Limit"] = []string{smallInt(d.Limit)}
	h["X-Ratelimit-Remaining"] = []string{smallInt(d.Remaining)}
	if !d.Reset.IsZero() {
		reset := d.Reset.Unix()
		if d.Reset.Nanosecond() > 0 {
			reset++
		}
		h["X-Ratelimit-Reset"] = []string{strconv.FormatInt(reset, 10)}
	}
	if draft {
		policy, state := draftFields(d, p.clock())
		h["Ratelimit-Policy"] = []string{policy}
		h["Ratelimit"] = []string{state}
	}
}

// draftFields serialises d as the RateLimit-Policy and RateLimit fields of
// draft-ietf-httpapi-ratelimit-headers-11 (§3, §4): Structured-Field lists
// of one item, a String naming the policy, with q (quota) and w (window,
// seconds) on the policy, r (remaining) and t (seconds until reset) on the
// state. The policy name is server configuration (a plan or route name),
// never key material; no pk parameter is sent.
// A limit without a window (a quota that never refills) has no w, and one
// without a reset time no t. now is the limiter's clock.
func draftFields(d Decision, now time.Time) (policy, state string) {
	name := sfString(d.Policy)
	policy = name + ";q=" + strconv.Itoa(d.Limit)
	if d.Window > 0 {
		policy += ";w=" + strconv.FormatInt(max(int64((d.Window+time.Second-1)/time.Second), 1), 10)
	}
	state = name + ";r=" + strconv.Itoa(max(d.Remaining, 0))
	if !d.Reset.IsZero() {
		until := int64(0)
		if d.Reset.After(now) {
			until = jsonerr.RetrySeconds(d.Reset.Sub(now))
		}
		state += ";t=" + strconv.FormatInt(until, 10)
	}
	return policy, state
}

// sfString is s as an RFC 9651 String: quoted, with '"' and '\' escaped,
// and characters outside printable ASCII dropped.
func sfString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// smallInts are the decimal strings of 0…1023: remaining counts and limits
// are usually small, and a header value then costs no allocation.
var smallInts = func() (t [1024]string) {
	for i := range t {
		t[i] = strconv.Itoa(i)
	}
	return t
}()

func smallInt(n int) string {
	if n >= 0 && n < len(smallInts) {
		return smallInts[n]
	}
	return strconv.Itoa(n)
}

// LimitRoute returns middleware, for a route behind Middleware, that takes
// from a named limit of its own: e.g. "webhook_jobs" at PerSecond(100), or
// "endpoint_tests" at PerMinute(10) per endpoint with subject
// PerPathValue("id"). subject says what the limit is counted for; nil
// means per key. A request over it gets 429. The X-RateLimit-* headers
// describe the tightest limit that applied, however gates are nested.
//
// On a route of a ServeMux that the middleware wraps, the route limit is
// decided together with the key's limits and quota: all are taken, or
// none. Elsewhere (another router, a wrapper between the mux and the
// gate) the middleware has already taken from the key's limits and quota
// when this gate decides; if it refuses, that is given back, as is what
// route limits around it took. In between, for the time the refusal takes
// to write, a concurrent request of the same key sees that budget as
// spent: it can be refused where it would have passed, never let through
// where it should not be.
func LimitRoute(name string, limit Limit, subject func(r *http.Request, k *Key) string) func(http.Handler) http.Handler {
	if subject == nil {
		subject = PerKey
	}
	req := &requirement{limit: &routeLimit{name: name, policy: "route:" + name, limit: limit, subject: subject}}
	// Decided once: a misconfigured route limit refuses every request (503)
	// rather than leave the route unlimited.
	if limit.validate("route_limit") != nil || name == "" || limit.isZero() {
		req.invalid = paramErr("route_limit", "needs a name and a valid limit")
	}
	return func(next http.Handler) http.Handler { return newGate(req, next) }
}

// RouteCost returns middleware, for a route behind Middleware, that sets
// what a request of the route takes from the key's (plan's, owner's)
// limits and quota, e.g. 10 for a bulk export, in place of the
// middleware's Cost (default 1). Route limits still count requests.
//
// On a route of a ServeMux that the middleware wraps, the cost goes into
// the route's one decision. Behind another router the middleware has
// already taken its own cost when this gate runs: the gate takes the rest
// (n minus the middleware's cost), all or none, and a refusal gives back
// both; a route cost below the middleware's takes nothing more there. n
// must be at least 1; otherwise every request is refused (503).
func RouteCost(n int) func(http.Handler) http.Handler {
	req := &requirement{hasCost: true, cost: n}
	if n < 1 {
		req.invalid = paramErr("route_cost", "must be at least 1")
	}
	return func(next http.Handler) http.Handler { return newGate(req, next) }
}

// costAlone is a RouteCost deciding on its own: it takes the cost above
// what the middleware took.
func (g *gate) costAlone(w http.ResponseWriter, r *http.Request, c *authContext) {
	if c == nil || c.rec == nil || c.manager == nil {
		g.next.ServeHTTP(w, r) // no key: nothing to count it against
		return
	}
	resp := responderOf(c)
	if g.req.invalid != nil {
		c.refused()
		resp.refuse(w, r, unavailable, g.req.invalid, "")
		return
	}
	extra := g.req.cost - resp.cost
	if extra <= 0 {
		g.next.ServeHTTP(w, r)
		return
	}
	m := c.manager
	d, period, err := m.charge(r.Context(), c.rec, extra, nil)
	if err != nil {
		c.refused()
		if errors.Is(err, ErrRateLimited) {
			setRateLimitHeaders(w.Header(), d, resp.draftHeaders, &m.limits)
		}
		resp.refuse(w, r, classify(err), err, "")
		return
	}
	if room := roomOf(d); room < c.room {
		setRateLimitHeaders(w.Header(), d, resp.draftHeaders, &m.limits)
		c.room = room
	}
	g.next.ServeHTTP(w, r)
	if c.state&stateRefused != 0 {
		m.refundCharge(r.Context(), c.rec, extra, nil, d, period)
	}
}

// routeLimit is the limit of one LimitRoute.
type routeLimit struct {
	name, policy string
	limit        Limit
	subject      func(r *http.Request, k *Key) string
}

// request is the limiter request of r with key k: one request, whatever
// the middleware's cost.
func (l *routeLimit) request(r *http.Request, k *Key) LimitRequest {
	return LimitRequest{Key: LimitKey{Policy: l.policy, Subject: l.subject(r, k)}, Limit: l.limit, Cost: 1, Name: l.name}
}

// limitAlone is a route limit deciding on its own: the middleware took
// from the key's limits and quota already (or the request has no key).
func (g *gate) limitAlone(w http.ResponseWriter, r *http.Request, c *authContext) {
	if c == nil || c.rec == nil || c.manager == nil {
		// Not authenticated with a key (Optional, or a fallback):
		// nothing to count it against.
		g.next.ServeHTTP(w, r)
		return
	}
	resp := responderOf(c)
	if g.req.invalid != nil {
		c.refused()
		resp.refuse(w, r, unavailable, g.req.invalid, "")
		return
	}
	m := c.manager
	req := [1]LimitRequest{g.req.limit.request(r, c.key())}
	d, err := m.limits.decide(r.Context(), req[:])
	if err != nil {
		c.refused()
		setRateLimitHeaders(w.Header(), d, resp.draftHeaders, &m.limits)
		resp.refuse(w, r, classify(err), err, "")
		return
	}
	if room := roomOf(d); room < c.room {
		setRateLimitHeaders(w.Header(), d, resp.draftHeaders, &m.limits)
		c.room = room // a looser limit further in must not overwrite these
	}
	g.next.ServeHTTP(w, r)
	if c.state&stateRefused != 0 && !d.failedOpen {
		m.limits.refund(context.WithoutCancel(r.Context()), req[:])
	}
}

// cached reports whether rawKey's record is in the verification cache,
// fresh: verifying it costs no store lookup. It costs a parse and a
// digest, and looks nowhere else.
func (m *Manager) cached(rawKey string) bool {
	if len(rawKey) > maxPresentedKeyLen {
		return false
	}
	if _, err := m.format.parse(rawKey); err != nil {
		return false
	}
	_, ok := m.cache.get(m.schemes[0].digest(rawKey))
	return ok
}

// PerKey counts a route limit per key.
func PerKey(_ *http.Request, k *Key) string { return k.ID }

// PerOwner counts a route limit per owner: all of an organization's keys share it.
func PerOwner(_ *http.Request, k *Key) string { return "owner\x00" + k.OwnerID }

// PerPathValue counts a route limit per owner and value of the path
// wildcard name (Go 1.22 patterns), e.g. per endpoint for
// "POST /endpoints/{id}/test".
func PerPathValue(name string) func(*http.Request, *Key) string {
	return func(r *http.Request, k *Key) string { return k.OwnerID + "\x00" + r.PathValue(name) }
}
