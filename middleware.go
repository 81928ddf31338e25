package apikey

import (
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"github.com/keyward/apikey/internal/scope"
)

// HTTP middleware: API-key authentication for net/http, answering as
// RFC 6750 (Bearer) and RFC 9110 ask.
//
// Where the key comes from, in this order (Hooklistener's): an
// "Authorization: Bearer" value carrying this Manager's prefix, then the
// X-API-Key header, then the Fallback authenticator. Never from the query
// string, a cookie or the body: a key there would end up in access logs.

const (
	// defaultRealm is the realm of the WWW-Authenticate challenge unless
	// Realm sets another.
	defaultRealm = "api"
	// maxPresentedKeyLen caps what the middleware hands to Verify: anything
	// longer is refused before any other work.
	maxPresentedKeyLen = 256
	maxRealmLen        = 128
)

// MiddlewareOption configures Manager.Middleware. Options are checked when
// the middleware is built (see NewMiddleware).
type MiddlewareOption func(*middlewareConfig)

type middlewareConfig struct {
	realm        string
	bearerHeader string // "" when off
	keyHeader    string // "" when off
	optional     bool
	fallback     func(http.Handler) http.Handler
	fallbackSet  bool
	hide         bool
	errorHandler func(http.ResponseWriter, *http.Request, *AuthError)
	logger       *slog.Logger
	loggerSet    bool
	scopes       []string
	cost         int
	draftHeaders bool
	throttle     Limit
	throttleSet  bool
	trusted      []netip.Prefix
	recover      bool
	preflight    http.Handler // nil unless AllowPreflight
	preflightSet bool
}

// Realm sets the realm of the WWW-Authenticate challenge (default "api"):
// 1 to 128 printable ASCII characters without '"' or '\'.
func Realm(realm string) MiddlewareOption { return func(c *middlewareConfig) { c.realm = realm } }

// BearerHeader sets the header that carries "Bearer <key>" (default
// Authorization); "" turns Bearer off.
func BearerHeader(name string) MiddlewareOption {
	return func(c *middlewareConfig) { c.bearerHeader = name }
}

// KeyHeader sets the header that carries the bare key (default X-API-Key);
// "" turns it off.
func KeyHeader(name string) MiddlewareOption { return func(c *middlewareConfig) { c.keyHeader = name } }

// Optional lets requests without any credentials through anonymously:
// FromContext reports no key, and RequireScopes downstream refuses them.
// Invalid keys are still refused, and so are credentials the middleware
// cannot check (another scheme, a Bearer token that is not an API key)
// unless a Fallback takes them.
func Optional() MiddlewareOption { return func(c *middlewareConfig) { c.optional = true } }

// Fallback hands requests that carry no API key (no credentials, another
// scheme, or a Bearer token without this Manager's prefix, such as a JWT)
// to the service's own authentication middleware, which wraps the same next
// handler. It can report how it authenticated with ContextWithAuthMethod. With
// Fallback, Optional has no effect: the fallback decides.
func Fallback(authenticate func(next http.Handler) http.Handler) MiddlewareOption {
	return func(c *middlewareConfig) { c.fallback, c.fallbackSet = authenticate, true }
}

// HideCredentials removes the header that carried the key from the request
// the next handler sees (Kong's hide_credentials), so it cannot be logged or
// forwarded downstream, on a Public route too (a key sent there anyway):
// a Public handler that reads keys itself, such as the management API,
// then sees none, so mount it outside this middleware. It works on a copy: the caller's request and header map are never
// modified. It costs a copy of the header map per request.
func HideCredentials() MiddlewareOption { return func(c *middlewareConfig) { c.hide = true } }

// OnError sets how refusals are written, e.g. as RFC 9457 problem+json.
// When h is called, the middleware has already set WWW-Authenticate (on
// 400, 401 and 403), Retry-After (on 429 when known) and Cache-Control:
// no-store; h writes the status e.Status and a body. It must not show e.Err
// to the client (see AuthError).
func OnError(h func(w http.ResponseWriter, r *http.Request, e *AuthError)) MiddlewareOption {
	return func(c *middlewareConfig) { c.errorHandler = h }
}

// LogFailures sets where the middleware logs one event per refused request
// (reason, key id when known, client address, request path; never the
// key). The default discards.
func LogFailures(l *slog.Logger) MiddlewareOption {
	return func(c *middlewareConfig) { c.logger, c.loggerSet = l, true }
}

// RequiredScopes makes the middleware itself require every one of
// scopes, as RequireScopes would behind it.
func RequiredScopes(scopes ...string) MiddlewareOption {
	return func(c *middlewareConfig) { c.scopes = slices.Clone(scopes) }
}

// RecoverPanics makes the middleware recover a panic of the handlers
// behind it: the client gets 500 with a generic JSON error (if nothing was
// written yet, without the headers the handler had set; otherwise the
// connection is cut, as net/http does), and the
// LogFailures logger (else the Manager's WithLogger) one Error event with
// the panic value and stack, with the presented credential (a fallback's
// too) and anything shaped like a key of the Manager, even cut short, cut
// out of both. Without it a panic reaches
// net/http, which drops the connection and logs the panic itself. It costs
// a small ResponseWriter wrapper per request. A panic with
// http.ErrAbortHandler is passed on: it means "abort quietly".
func RecoverPanics() MiddlewareOption { return func(c *middlewareConfig) { c.recover = true } }

// AllowPreflight hands CORS preflight requests to cors, unauthenticated:
// an OPTIONS request with Access-Control-Request-Method and no
// credentials (browsers never send them on a preflight) goes to cors, which
// must answer it, and never to the next handler, so that no route behind
// the middleware is reached without a key. FromContext reports no key.
// Without it a preflight gets 401 like any request without credentials.
func AllowPreflight(cors http.Handler) MiddlewareOption {
	return func(c *middlewareConfig) { c.preflight, c.preflightSet = cors, true }
}

// NewMiddleware returns net/http middleware that authenticates every
// request with an API key of this Manager, or an error matching
// ErrInvalidParams when an option is invalid. See Middleware.
func (m *Manager) NewMiddleware(opts ...MiddlewareOption) (func(http.Handler) http.Handler, error) {
	c, err := m.middlewareConfig(opts)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, name := range []string{c.bearerHeader, c.keyHeader} {
		if name != "" {
			names = append(names, name)
		}
	}
	resp := newResponder(c.realm, c.errorHandler, c.logger)
	resp.manager, resp.draftHeaders, resp.cost = m, c.draftHeaders, max(c.cost, 1)
	resp.panicLogger = m.logger // a panic is an operator's business even without LogFailures
	if c.loggerSet {
		resp.panicLogger = c.logger
	}
	base := authMiddleware{
		manager:      m,
		bearerHeader: textproto.CanonicalMIMEHeaderKey(c.bearerHeader),
		keyHeader:    textproto.CanonicalMIMEHeaderKey(c.keyHeader),
		keyPrefix:    m.format.prefix + "_",
		optional:     c.optional,
		hide:         c.hide,
		recover:      c.recover,
		preflight:    c.preflight,
		scopes:       c.scopes,
		vary:         []string{strings.Join(names, ", ")},
		responder:    resp,
	}
	if !c.throttle.isZero() {
		base.throttle = newFailureThrottle(c.throttle, c.trusted)
	}
	if len(c.scopes) > 0 {
		base.scopeParam = scopeParam(c.scopes)
	}
	return func(next http.Handler) http.Handler {
		a := base
		a.next = next
		if mux, ok := next.(*http.ServeMux); ok {
			a.mux = mux
		}
		if c.fallback != nil {
			a.fallback = c.fallback(next)
		}
		return &a
	}, nil
}

// Middleware returns net/http middleware that authenticates every request
// with an API key of this Manager and puts the key in the request context
// (FromContext). It answers as RFC 6750 asks:
//
//   - no credentials, or a scheme other than Bearer: 401 with
//     WWW-Authenticate: Bearer realm="api" and no error;
//   - a malformed, unknown, revoked, disabled, expired or wrong-environment
//     key, or a Bearer token that is not a key of this Manager: 401
//     error="invalid_token", the same bytes whatever the reason;
//   - credentials twice (both headers, or a header repeated): 400
//     error="invalid_request", neither value checked;
//   - a key lacking a scope of RequiredScopes: 403
//     error="insufficient_scope", scope="…";
//   - rate limited: 429 with Retry-After when known;
//   - a store failure or any unexpected error: 503 (fail closed).
//
// Every refusal has a JSON body {"error":{"code":…,"message":…}},
// Content-Type: application/json and Cache-Control: no-store, and nothing
// from the request is echoed back. Passed-through responses get
// Vary: Authorization, X-API-Key.
//
// When the next handler is an *http.ServeMux, the middleware looks up the
// route first (ServeMux.Handler): a route registered with Public is served
// without a key, and the requirements of a route wrapped in RequireScopes,
// RequireAnyScope, LimitRoute and RouteCost are decided together with the
// key's limits and quota, once: a request refused for a scope or a route
// limit takes nothing. Behind any other router, a gate that refuses gives back
// what the request took (see LimitRoute).
//
// Middleware never panics. If an option is invalid, the middleware it
// returns refuses every request with 503 and logs why at Error level, so a
// mistake cannot leave routes open; use NewMiddleware to get the error at
// start instead.
func (m *Manager) Middleware(opts ...MiddlewareOption) func(http.Handler) http.Handler {
	mw, err := m.NewMiddleware(opts...)
	if err == nil {
		return mw
	}
	logger := slog.New(slog.DiscardHandler)
	var c middlewareConfig
	for _, opt := range opts {
		opt(&c)
	}
	if c.logger != nil {
		logger = c.logger
	}
	broken := &misconfigured{err: err, logger: logger}
	return func(http.Handler) http.Handler { return broken }
}

func (m *Manager) middlewareConfig(opts []MiddlewareOption) (middlewareConfig, error) {
	c := middlewareConfig{
		realm:        defaultRealm,
		bearerHeader: "Authorization",
		keyHeader:    "X-API-Key",
		logger:       slog.New(slog.DiscardHandler),
	}
	if m == nil {
		return c, paramErr("manager", "must not be nil")
	}
	for _, opt := range opts {
		opt(&c)
	}
	switch {
	case !validRealm(c.realm):
		return c, paramErr("realm", `must be 1 to 128 printable ASCII characters without '"' or '\'`)
	case c.bearerHeader != "" && !validHeaderName(c.bearerHeader),
		c.keyHeader != "" && !validHeaderName(c.keyHeader):
		return c, paramErr("header", "must be an HTTP field name")
	case c.bearerHeader == "" && c.keyHeader == "":
		return c, paramErr("header", "at least one of the Bearer and key headers must be on")
	case strings.EqualFold(c.bearerHeader, c.keyHeader):
		return c, paramErr("header", "the Bearer and key headers must differ")
	case c.preflightSet && c.preflight == nil:
		return c, paramErr("preflight", "needs a CORS handler")
	case c.fallbackSet && c.fallback == nil:
		return c, paramErr("fallback", "must not be nil")
	case c.logger == nil:
		return c, paramErr("logger", "must not be nil")
	case c.cost < 0:
		return c, paramErr("cost", "must not be negative")
	}
	if !c.throttleSet {
		c.throttle = PerMinute(60)
	}
	if err := c.throttle.validate("throttle_failures"); err != nil {
		return c, err
	}
	for _, s := range c.scopes {
		if !scope.Valid(s) {
			return c, paramErr("required_scopes", "invalid scope "+quoteScope(s))
		}
	}
	return c, nil
}

// authMiddleware is one middleware wrapped around one next handler.
type authMiddleware struct {
	manager      *Manager
	throttle     *failureThrottle // nil when off
	next         http.Handler
	mux          *http.ServeMux // next, when it is a ServeMux: routes are looked up first
	fallback     http.Handler   // nil without Fallback
	bearerHeader string         // canonical; "" when off
	keyHeader    string         // canonical; "" when off
	keyPrefix    string         // "sk_": a Bearer token is ours only with it
	optional     bool
	hide         bool
	recover      bool
	preflight    http.Handler // AllowPreflight's CORS handler; nil when off
	scopes       []string
	scopeParam   string   // scope="…" for a 403 of RequiredScopes
	vary         []string // len == cap: a handler's Add copies instead of writing into it
	responder    *responder
}

func (a *authMiddleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var route *routeChain // the requirements of the route, when the mux shows them
	var pattern string    // the route's pattern, for the copies of r its handler gets
	next := a.next
	if a.mux != nil && r.RequestURI != "*" {
		var h http.Handler
		h, pattern = a.mux.Handler(r)
		if strings.IndexByte(pattern, '{') < 0 {
			// No path values to set: serve the route's handler directly,
			// as the mux would after the same match, instead of matching
			// twice; r.Pattern is set on the copy the handler gets, never
			// on the caller's request. A pattern with wildcards goes
			// through the mux again.
			next = h
		}
		if route = chainOf(h); route != nil && route.public {
			if a.hide {
				r = a.withoutKeys(r) // a key sent anyway must not reach a public handler either
			}
			if r.Pattern != pattern {
				r = r.WithContext(r.Context())
				r.Pattern = pattern
			}
			a.serve(w, r, next, "") // no credentials looked at, nothing counted
			return
		}
		if route != nil && route.invalid != nil {
			a.responder.refuse(w, r, unavailable, route.invalid, "") // fail closed, whoever asks
			return
		}
	}
	// Direct map reads with canonical names: Header.Get would canonicalise
	// on every request.
	var bearer, keyed []string
	if a.bearerHeader != "" {
		bearer = r.Header[a.bearerHeader]
	}
	if a.keyHeader != "" {
		keyed = r.Header[a.keyHeader]
	}
	if a.throttle != nil && a.throttle.nblocked.Load() > 0 && a.throttled(w, r, bearer, keyed) {
		return
	}
	switch kind, presented := credentialOf(bearer, keyed); {
	case kind == credDuplicate:
		a.responder.refuse(w, r, badRequest, ErrDuplicateCredentials, "")
	case kind == credKeyHeader:
		a.authenticate(w, r, presented, a.keyHeader, route, next, pattern)
	case kind == credBearer && strings.HasPrefix(presented, a.keyPrefix):
		a.authenticate(w, r, presented, a.bearerHeader, route, next, pattern)
	case kind != credNone && a.fallback != nil:
		a.pass(w, r, a.fallback, fallbackCredential(bearer[0]), "")
	case kind == credBearer:
		a.responder.refuse(w, r, unauthorized, errForeignToken, "")
	case kind == credOtherScheme:
		a.responder.refuse(w, r, unauthorized, errUnsupportedScheme, "")
	case a.preflight != nil && r.Method == http.MethodOptions && len(r.Header["Access-Control-Request-Method"]) > 0:
		a.pass(w, r, a.preflight, "", "") // a CORS preflight: browsers send no credentials on it
	case a.fallback != nil:
		a.pass(w, r, a.fallback, "", "") // through the mux, which sets r.Pattern
	case a.optional:
		a.pass(w, r, next, "", pattern)
	default:
		a.responder.refuse(w, r, unauthorized, ErrNoCredentials, "")
	}
}

// throttled refuses a request from a client blocked for its failures
// when it presents an API key to verify, unless the key's record is in
// the verification cache: that costs neither a store lookup nor more than
// the one hash the cache check takes, so a valid key behind a shared
// address (NAT, a proxy) still passes. A request without an API key (none
// at all, another scheme, a fallback's token, credentials twice) costs no
// hash nor lookup and is answered as usual. It reports whether it refused.
func (a *authMiddleware) throttled(w http.ResponseWriter, r *http.Request, bearer, keyed []string) bool {
	wait := a.throttle.blockedFor(a.throttle.clientAddr(r), time.Now()) // sweeps expired blocks too
	if wait <= 0 {
		return false
	}
	kind, presented := credentialOf(bearer, keyed)
	if kind != credKeyHeader && (kind != credBearer || !strings.HasPrefix(presented, a.keyPrefix)) {
		return false // nothing this middleware would hash or look up
	}
	if a.manager.cached(presented) {
		return false
	}
	// Too many failures from this client: refused before any store work.
	// No key's limits are touched.
	a.responder.refuse(w, r, rateLimited, &RateLimitError{Decision: Decision{Policy: "auth_failures", RetryAfter: wait}}, "")
	return true
}

// authenticate verifies a presented key and passes the request on with the
// key in its context, or refuses it. Behind a route whose gates the mux
// showed (route != nil), the route's outermost gate takes from the limits
// and the quota, for all of them at once; otherwise the middleware takes
// here, and gives back when a gate downstream refuses.
func (a *authMiddleware) authenticate(w http.ResponseWriter, r *http.Request, presented, header string, route *routeChain, next http.Handler, pattern string) {
	var rec *Record
	var d Decision
	var period time.Time
	var err error
	charged := false
	switch {
	case len(presented) > maxPresentedKeyLen:
		err = ErrMalformedKey
	default:
		// The parse rejects anything but this Manager's exact format
		// (control bytes, non-ASCII) before hashing or a store call.
		rec, err = a.manager.authorize(r.Context(), presented, a.scopes, false)
		if err == nil && route == nil {
			d, period, err = a.manager.charge(r.Context(), rec, a.responder.cost, nil)
			charged = err == nil
		}
	}
	if err != nil {
		if a.throttle != nil && errors.Is(err, ErrInvalidKey) {
			a.throttle.failed(a.throttle.clientAddr(r), time.Now())
		}
		if errors.Is(err, ErrRateLimited) {
			setRateLimitHeaders(w.Header(), d, a.responder.draftHeaders, &a.manager.limits)
		}
		a.responder.refuse(w, r, classify(err), err, a.scopeParam)
		return
	}
	setRateLimitHeaders(w.Header(), d, a.responder.draftHeaders, &a.manager.limits)
	ac := &authContext{Context: r.Context(), rec: rec, manager: a.manager, method: authMethodAPIKey,
		responder: a.responder, room: roomOf(d)}
	if route != nil && !charged {
		ac.state = stateRoute
	}
	// One allocation for the request copy and the context (this literal
	// stays on the stack): ac is the copy in it from here on.
	r2, ac := withAuthContext(r, *ac)
	if pattern != "" {
		r2.Pattern = pattern
	}
	if a.hide {
		r2.Header = r.Header.Clone()
		delete(r2.Header, header)
	}
	a.addVary(w.Header())
	a.serve(w, r2, next, presented)
	if charged && ac.state&stateRefused != 0 {
		// A gate downstream refused: give back what this request took.
		a.manager.refundCharge(r.Context(), rec, a.responder.cost, nil, d, period)
	}
}

// withoutKeys is r without the headers that carry a key of this Manager
// (HideCredentials on a Public route): a copy, when there is one to drop.
func (a *authMiddleware) withoutKeys(r *http.Request) *http.Request {
	drop := make([]string, 0, 2)
	if a.keyHeader != "" && len(r.Header[a.keyHeader]) > 0 {
		drop = append(drop, a.keyHeader)
	}
	if a.bearerHeader != "" && slices.ContainsFunc(r.Header[a.bearerHeader], func(v string) bool {
		token, ok := bearerToken(trimOWS(v))
		return ok && strings.HasPrefix(token, a.keyPrefix)
	}) {
		drop = append(drop, a.bearerHeader)
	}
	if len(drop) == 0 {
		return r
	}
	r = r.WithContext(r.Context())
	r.Header = r.Header.Clone()
	for _, name := range drop {
		delete(r.Header, name)
	}
	return r
}

// pass hands on a request that carries no API key (to the fallback, or
// anonymously), with this middleware's responder in its context so that
// RequireScopes downstream answers the same way. presented is the
// credential the fallback is handed, to be kept out of a panic's log;
// pattern the route's, when h is the route's handler.
func (a *authMiddleware) pass(w http.ResponseWriter, r *http.Request, h http.Handler, presented, pattern string) {
	a.addVary(w.Header())
	r2, _ := withAuthContext(r, authContext{responder: a.responder})
	if pattern != "" {
		r2.Pattern = pattern
	}
	a.serve(w, r2, h, presented)
}

// fallbackCredential is the credential in an Authorization value of any
// scheme: what follows the scheme, or the whole value without one.
func fallbackCredential(v string) string {
	v = trimOWS(v)
	if i := strings.IndexAny(v, " \t"); i >= 0 {
		return trimOWS(v[i+1:])
	}
	return v
}

// serve calls h, recovering its panics when asked to. presented is the
// credential, to be kept out of the log.
func (a *authMiddleware) serve(w http.ResponseWriter, r *http.Request, h http.Handler, presented string) {
	if !a.recover {
		h.ServeHTTP(w, r)
		return
	}
	rw := &recoverWriter{ResponseWriter: w}
	defer func() {
		v := recover()
		if v == nil {
			return
		}
		if v == http.ErrAbortHandler {
			panic(v)
		}
		a.responder.logPanic(r, v, presented)
		if rw.wrote {
			panic(http.ErrAbortHandler) // the response has begun: cut it off, quietly
		}
		dropHandlerHeaders(w.Header())
		a.responder.write(w, r, internalError, errPanic, 0)
	}()
	h.ServeHTTP(rw, r)
}

// dropHandlerHeaders leaves in h only what the middleware set before the
// handler ran (Vary, the rate-limit fields): the 500 of a panic is a new
// response, which a handler's Content-Length, Content-Encoding or cookie
// must not describe.
func dropHandlerHeaders(h http.Header) {
	for name := range h {
		switch {
		case name == "Vary", strings.HasPrefix(name, "X-Ratelimit-"), name == "Ratelimit", name == "Ratelimit-Policy":
		default:
			delete(h, name)
		}
	}
}

// recoverWriter notes whether the response has begun.
type recoverWriter struct {
	http.ResponseWriter
	wrote bool
}

func (w *recoverWriter) WriteHeader(code int) {
	if code >= 200 || code == http.StatusSwitchingProtocols {
		w.wrote = true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recoverWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Flush keeps a streaming handler's w.(http.Flusher) working (SSE): most
// assert the interface rather than use http.ResponseController.
func (w *recoverWriter) Flush() {
	w.wrote = true // the headers are sent
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the connection's writer
// (Flush, Hijack, deadlines).
func (w *recoverWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// KeyFromRequest returns the API key a request presents, by the
// middleware's rules, for handlers that call Verify or Check themselves:
// the key is the value of X-API-Key, or the token of an Authorization
// header of the Bearer scheme (case-insensitive, then one or more spaces),
// optional whitespace around either value ignored; never the query string,
// a cookie or the body. Credentials sent twice (both headers, or one
// repeated) are ErrDuplicateCredentials, answered 400 invalid_request;
// none, or Authorization of another scheme, is ErrNoCredentials, answered
// 401 without an error code. A token that is not a key (empty, malformed)
// is returned as is: Verify rejects it with ErrInvalidKey.
func KeyFromRequest(r *http.Request) (key string, err error) {
	kind, presented := credentialOf(r.Header["Authorization"], r.Header["X-Api-Key"])
	switch kind {
	case credKeyHeader, credBearer:
		return presented, nil
	case credDuplicate:
		return "", ErrDuplicateCredentials
	}
	return "", ErrNoCredentials
}

// credentialKind is what the credential headers of a request hold.
type credentialKind uint8

const (
	credNone        credentialKind = iota
	credDuplicate                  // more than one value, in one header or both
	credKeyHeader                  // one X-API-Key (or KeyHeader) value
	credBearer                     // one Authorization value of the Bearer scheme
	credOtherScheme                // one Authorization value of another scheme
)

// credentialOf applies the rules of which credential a request presents
// to the values of its bearer and key headers; presented is set for
// credKeyHeader and credBearer.
func credentialOf(bearer, keyed []string) (kind credentialKind, presented string) {
	switch {
	case len(bearer)+len(keyed) > 1:
		// RFC 6750 §2: one method per request. Which value to believe is
		// ambiguous, so neither is checked.
		return credDuplicate, ""
	case len(keyed) == 1:
		return credKeyHeader, trimOWS(keyed[0])
	case len(bearer) == 1:
		if token, ok := bearerToken(trimOWS(bearer[0])); ok {
			return credBearer, token
		}
		return credOtherScheme, ""
	}
	return credNone, ""
}

// trimOWS drops optional whitespace (SP, HTAB; RFC 9110 §5.5) around a
// field value: net/http trims it over HTTP/1.1 but not over HTTP/2 or in
// a request handed to ServeHTTP directly, and the answer must not depend
// on the transport.
func trimOWS(v string) string {
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return v
}

// addVary tells caches that the response depends on the credential
// headers (RFC 9111 §3.5 covers only Authorization). The shared slice goes
// in as is: no allocation per request.
func (a *authMiddleware) addVary(h http.Header) {
	if v, ok := h["Vary"]; ok {
		h["Vary"] = append(slices.Clip(v), a.vary[0])
		return
	}
	h["Vary"] = a.vary
}

// bearerToken returns the token of an Authorization value of the Bearer
// scheme: the scheme is case-insensitive (RFC 9110 §11.1) and followed by
// one or more spaces (RFC 6750 §2.1: 1*SP). ok is false for other schemes,
// and for "Bearer" followed by a tab: not the Bearer syntax, so answered as
// an unsupported scheme (401 without an error code).
func bearerToken(v string) (token string, ok bool) {
	const scheme = "bearer"
	if len(v) < len(scheme) || !asciiEqualFold(v[:len(scheme)], scheme) {
		return "", false
	}
	if len(v) == len(scheme) {
		return "", true
	}
	if v[len(scheme)] != ' ' {
		return "", false // "Bearerx", or a tab: not the Bearer scheme
	}
	i := len(scheme)
	for i < len(v) && v[i] == ' ' {
		i++
	}
	return v[i:], true
}

// asciiEqualFold compares s with lower, an ASCII lower-case word, ignoring
// ASCII case only: no Unicode folding of attacker input.
func asciiEqualFold(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

// RequireScopes returns middleware that lets a request through only if the
// key in its context grants every one of scopes, under the rules of the
// Manager that verified it (wildcards, implications). Put it behind
// Manager.Middleware. A request without a key gets 401; one lacking a scope
// gets 403 insufficient_scope with scope="…", as does one authenticated by
// a Fallback (it grants no API-key scopes) when scopes is not empty. With
// no scopes it requires only that the request was authenticated.
//
// A request it refuses takes nothing: on a route of a ServeMux the
// middleware wraps, the scopes are checked before anything is taken;
// elsewhere, what the middleware took for the request is given back.
//
// Scopes must be valid scope tokens (RFC 6749 §3.3); if one is not, every
// request is refused with 503, so that a mistake cannot open a route.
func RequireScopes(scopes ...string) func(http.Handler) http.Handler {
	return newScopeGate(scopes, false)
}

// RequireAnyScope is RequireScopes satisfied by any one of scopes.
func RequireAnyScope(scopes ...string) func(http.Handler) http.Handler {
	return newScopeGate(scopes, true)
}

func newScopeGate(scopes []string, any bool) func(http.Handler) http.Handler {
	req := &requirement{scopes: slices.Clone(scopes), anyScope: any, hasScopes: true}
	for _, s := range scopes {
		if !scope.Valid(s) {
			req.invalid = errInvalidRequiredScope
		}
	}
	if req.invalid == nil && len(scopes) > 0 {
		req.scopeParam = scopeParam(scopes)
	}
	return func(next http.Handler) http.Handler { return newGate(req, next) }
}

// Public marks a route of a ServeMux as reachable without a key: the
// middleware in front of the mux serves it without looking at credentials
// (FromContext reports no key, nothing is counted, no 401). It works where
// the middleware can see the route, that is when the handler it wraps is
// the *http.ServeMux the route is registered on, and Public is the
// outermost wrapper of the route's handler:
//
//	mux.Handle("GET /health", apikey.Public(http.HandlerFunc(health)))
//	http.ListenAndServe(addr, m.Middleware()(mux))
//
// Behind another router the middleware cannot see it, and the route needs
// a key like every other. Public wrapped around RequireScopes or
// LimitRoute contradicts itself: such a route refuses every request (503).
func Public(h http.Handler) http.Handler { return newGate(&requirement{public: true}, h) }

// requirement is what one gate asks of a request.
type requirement struct {
	public     bool
	hasScopes  bool
	scopes     []string
	anyScope   bool
	scopeParam string
	limit      *routeLimit // nil but for LimitRoute
	hasCost    bool
	cost       int   // RouteCost
	invalid    error // misconfigured: refuse every request (503)
}

// routeChain is the requirements of a gate and of the gates of ours
// directly inside it (no other handler between): what one decision covers.
type routeChain struct {
	reqs    []*requirement // outermost first
	public  bool
	invalid error
}

// gate is RequireScopes, RequireAnyScope, LimitRoute, RouteCost or Public
// around next.
type gate struct {
	next  http.Handler
	req   *requirement
	chain routeChain
}

const maxChain = 32

func newGate(req *requirement, next http.Handler) *gate {
	g := &gate{next: next, req: req}
	g.chain.reqs = []*requirement{req}
	if inner := chainOf(next); inner != nil && len(inner.reqs) < maxChain {
		g.chain.reqs = append(g.chain.reqs, inner.reqs...)
	}
	for _, r := range g.chain.reqs {
		if r.invalid != nil && g.chain.invalid == nil {
			g.chain.invalid = r.invalid
		}
	}
	if g.chain.reqs[0].public {
		g.chain.public = true
		if len(g.chain.reqs) > 1 {
			g.chain.public, g.chain.invalid = false, errPublicWithRequirements
		}
	} else if slices.ContainsFunc(g.chain.reqs, func(r *requirement) bool { return r.public }) {
		g.chain.invalid = errPublicWithRequirements
	}
	return g
}

// chainOf returns the requirements h declares, or nil when h is not a
// gate of ours.
func chainOf(h http.Handler) *routeChain {
	if g, ok := h.(*gate); ok {
		return &g.chain
	}
	return nil
}

func (g *gate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := fromContext(r.Context())
	switch {
	case c != nil && c.covered > 0:
		c.covered-- // decided by the gate around this one
		g.next.ServeHTTP(w, r)
	case c != nil && c.state&stateRoute != 0:
		g.decide(w, r, c)
	case g.req.public:
		g.next.ServeHTTP(w, r)
	case g.req.limit != nil:
		g.limitAlone(w, r, c)
	case g.req.hasCost:
		g.costAlone(w, r, c)
	default:
		g.scopesAlone(w, r, c)
	}
}

// responderOf is the responder of the middleware in front, or the default.
func responderOf(c *authContext) *responder {
	if c != nil && c.responder != nil {
		return c.responder
	}
	return defaultResponder
}

// decide is the one decision for the route whose outermost gate g is,
// after the middleware authenticated the key: every scope, then every
// limit (the key's, its owner's, the route's) all or none, then the quota.
func (g *gate) decide(w http.ResponseWriter, r *http.Request, c *authContext) {
	c.state &^= stateRoute
	resp := responderOf(c)
	ch := &g.chain
	if ch.invalid != nil {
		c.refused()
		resp.refuse(w, r, unavailable, ch.invalid, "")
		return
	}
	for _, req := range ch.reqs {
		if req.hasScopes && !grants(c, req) {
			c.refused()
			resp.refuse(w, r, forbidden, &KeyError{KeyID: c.rec.ID, Err: &ScopeError{Required: slices.Clone(req.scopes), Any: req.anyScope}}, req.scopeParam)
			return
		}
	}
	var buf [4]LimitRequest
	reqs := ch.limitRequests(buf[:0], r, c.key())
	m := c.manager
	cost := ch.cost(resp.cost)
	d, period, err := m.charge(r.Context(), c.rec, cost, reqs)
	if err != nil {
		c.refused()
		if errors.Is(err, ErrRateLimited) {
			setRateLimitHeaders(w.Header(), d, resp.draftHeaders, &m.limits)
		}
		resp.refuse(w, r, classify(err), err, "")
		return
	}
	setRateLimitHeaders(w.Header(), d, resp.draftHeaders, &m.limits)
	c.room = roomOf(d)
	c.covered = uint8(len(ch.reqs) - 1)
	g.next.ServeHTTP(w, r)
	if c.state&stateRefused != 0 {
		// A gate further in, out of this decision's sight, refused.
		m.refundCharge(r.Context(), c.rec, cost, ch.limitRequests(nil, r, c.key()), d, period)
	}
}

// cost is what the chain's request takes from the key's limits and quota:
// the outermost RouteCost's, else the middleware's.
func (ch *routeChain) cost(middleware int) int {
	for _, req := range ch.reqs {
		if req.hasCost {
			return req.cost
		}
	}
	return middleware
}

// limitRequests appends the route limits of the chain for key.
func (ch *routeChain) limitRequests(reqs []LimitRequest, r *http.Request, k *Key) []LimitRequest {
	for _, req := range ch.reqs {
		if l := req.limit; l != nil {
			reqs = append(reqs, l.request(r, k))
		}
	}
	return reqs
}

// scopesAlone is a scope gate deciding on its own: behind a router that
// the middleware cannot look into, or without the middleware.
func (g *gate) scopesAlone(w http.ResponseWriter, r *http.Request, c *authContext) {
	resp := responderOf(c)
	switch {
	case g.req.invalid != nil:
		c.refused()
		resp.refuse(w, r, unavailable, g.req.invalid, "")
	case c == nil || c.rec == nil && c.method == "":
		c.refused()
		resp.refuse(w, r, unauthorized, ErrNoCredentials, "")
	case !grants(c, g.req):
		err := error(&ScopeError{Required: slices.Clone(g.req.scopes), Any: g.req.anyScope})
		if c.rec != nil {
			err = &KeyError{KeyID: c.rec.ID, Err: err}
		}
		c.refused()
		resp.refuse(w, r, forbidden, err, g.req.scopeParam)
	default:
		g.next.ServeHTTP(w, r)
	}
}

// grants: a fallback-authenticated request has no key and so no scopes.
func grants(c *authContext, req *requirement) bool {
	var granted []string
	if c.rec != nil {
		granted = c.rec.Scopes
	}
	if req.anyScope {
		return c.scopePolicy().anyOf(granted, req.scopes)
	}
	return c.scopePolicy().allOf(granted, req.scopes)
}

// scopeParam is the scope auth-param of a 403 challenge. Scopes are valid
// scope tokens (no '"', '\' or space), so they need no escaping.
func scopeParam(scopes []string) string {
	return `scope="` + strings.Join(scopes, " ") + `"`
}

// misconfigured stands in for a middleware whose options were invalid: it
// fails closed.
type misconfigured struct {
	err    error
	logger *slog.Logger
}

func (m *misconfigured) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.logger.LogAttrs(r.Context(), slog.LevelError, "apikey: middleware misconfigured; refusing every request",
		slog.String("error", m.err.Error()))
	defaultResponder.write(w, r, unavailable, errMisconfigured, 0)
}

func validRealm(s string) bool {
	if len(s) == 0 || len(s) > maxRealmLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		// RFC 6750 §3: %x20-21 / %x23-5B / %x5D-7E.
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}

// validHeaderName reports whether s is an RFC 9110 token.
func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// Causes of refusals that no Manager call reports. The ones about a
// presented token match ErrInvalidKey, like Verify's.
var (
	errUnsupportedScheme            = errors.New("apikey: unsupported authentication scheme")
	errForeignToken           error = &authError{"apikey: bearer token is not an API key"}
	errMisconfigured                = errors.New("apikey: middleware misconfigured")
	errInvalidRequiredScope         = errors.New("apikey: invalid required scope")
	errPublicWithRequirements       = errors.New("apikey: a Public route with scope or limit requirements")
	errPanic                        = errors.New("apikey: handler panicked")
)
