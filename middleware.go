package apikey

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"net/textproto"
	"slices"
	"strings"
	"time"
)

// HTTP middleware: API-key authentication for net/http, answering as
// RFC 6750 (Bearer) and RFC 9110 ask.
//
// Where the key comes from, in this order (Hooklistener's): an
// "Authorization: Bearer" value carrying this Manager's prefix, then the
// X-API-Key header, then the Fallback authenticator. Never from the query
// string, a cookie or the body: a key there would end up in access logs.

const (
	// DefaultRealm is the realm of the WWW-Authenticate challenge unless
	// Realm sets another.
	DefaultRealm = "api"
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
	errorHandler ErrorHandler
	logger       *slog.Logger
	scopes       []string
	cost         int
	draftHeaders bool
	throttle     Limit
	throttleSet  bool
	trusted      []netip.Prefix
	// check replaces Manager.Check in tests, for answers no store gives.
	check func(ctx context.Context, key string, o CheckOptions) (*Key, Decision, error)
}

// ErrorHandler writes the response to a refused request, e.g. as RFC 9457
// problem+json. When it is called, the middleware has already set
// WWW-Authenticate (on 400, 401 and 403), Retry-After (on 429 when known)
// and Cache-Control: no-store; the handler writes the status e.Status and a
// body. It must not show e.Err to the client (see AuthError).
type ErrorHandler func(w http.ResponseWriter, r *http.Request, e *AuthError)

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
// handler. It can report how it authenticated with WithAuthMethod. With
// Fallback, Optional has no effect: the fallback decides.
func Fallback(authenticate func(next http.Handler) http.Handler) MiddlewareOption {
	return func(c *middlewareConfig) { c.fallback, c.fallbackSet = authenticate, true }
}

// HideCredentials removes the header that carried the key from the request
// the next handler sees (Kong's hide_credentials), so it cannot be logged or
// forwarded downstream. It works on a copy: the caller's request and header
// map are never modified. It costs a copy of the header map per request.
func HideCredentials() MiddlewareOption { return func(c *middlewareConfig) { c.hide = true } }

// WithErrorHandler replaces how refusals are written; see ErrorHandler.
func WithErrorHandler(h ErrorHandler) MiddlewareOption {
	return func(c *middlewareConfig) { c.errorHandler = h }
}

// LogFailures sets where the middleware logs one event per refused request
// (reason, key id when known, client address, request path; never the
// key). The default discards.
func LogFailures(l *slog.Logger) MiddlewareOption { return func(c *middlewareConfig) { c.logger = l } }

// WithRequiredScopes makes the middleware itself require every one of
// scopes, as RequireScopes would behind it.
func WithRequiredScopes(scopes ...string) MiddlewareOption {
	return func(c *middlewareConfig) { c.scopes = slices.Clone(scopes) }
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
	base := authMiddleware{
		manager:      m,
		check:        c.check,
		checkOpts:    CheckOptions{Scopes: c.scopes, Cost: c.cost},
		draftHeaders: c.draftHeaders,
		bearerHeader: textproto.CanonicalMIMEHeaderKey(c.bearerHeader),
		keyHeader:    textproto.CanonicalMIMEHeaderKey(c.keyHeader),
		keyPrefix:    m.format.prefix + "_",
		optional:     c.optional,
		hide:         c.hide,
		scopes:       c.scopes,
		vary:         []string{strings.Join(names, ", ")},
		responder:    newResponder(c.realm, c.errorHandler, c.logger),
	}
	if base.check == nil {
		base.check = m.Check
	}
	if !c.throttle.IsZero() {
		base.throttle = newFailureThrottle(c.throttle, c.trusted)
	}
	if len(c.scopes) > 0 {
		base.scopeParam = scopeParam(c.scopes)
	}
	return func(next http.Handler) http.Handler {
		a := base
		a.next = next
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
//   - a key lacking a scope of WithRequiredScopes: 403
//     error="insufficient_scope", scope="…";
//   - rate limited: 429 with Retry-After when known;
//   - a store failure or any unexpected error: 503 (fail closed).
//
// Every refusal has a JSON body {"error":{"code":…,"message":…}},
// Content-Type: application/json and Cache-Control: no-store, and nothing
// from the request is echoed back. Passed-through responses get
// Vary: Authorization, X-API-Key.
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
		realm:        DefaultRealm,
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
		if !validScope(s) {
			return c, paramErr("required_scopes", "invalid scope "+quoteScope(s))
		}
	}
	return c, nil
}

// authMiddleware is one middleware wrapped around one next handler.
type authMiddleware struct {
	manager      *Manager
	check        func(ctx context.Context, key string, o CheckOptions) (*Key, Decision, error)
	checkOpts    CheckOptions
	draftHeaders bool
	throttle     *failureThrottle // nil when off
	next         http.Handler
	fallback     http.Handler // nil without Fallback
	bearerHeader string       // canonical; "" when off
	keyHeader    string       // canonical; "" when off
	keyPrefix    string       // "sk_": a Bearer token is ours only with it
	optional     bool
	hide         bool
	scopes       []string
	scopeParam   string   // scope="…" for a 403 of WithRequiredScopes
	vary         []string // len == cap: a handler's Add copies instead of writing into it
	responder    *responder
}

func (a *authMiddleware) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.throttle != nil && a.throttle.nblocked.Load() > 0 {
		if wait := a.throttle.blockedFor(a.throttle.clientAddr(r), time.Now()); wait > 0 {
			// Too many failures from this client: refused before any
			// hashing or store work. No key's limits are touched.
			a.responder.refuse(w, r, rateLimited, &RateLimitError{Decision: Decision{Policy: "auth_failures", RetryAfter: wait}}, "")
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
	switch {
	case len(bearer)+len(keyed) > 1:
		// RFC 6750 §2: one method per request. Which value to believe is
		// ambiguous, so neither is checked.
		a.responder.refuse(w, r, badRequest, errDuplicateCredentials, "")
	case len(keyed) == 1:
		a.authenticate(w, r, keyed[0], a.keyHeader)
	case len(bearer) == 1:
		token, isBearer := bearerToken(bearer[0])
		switch {
		case isBearer && strings.HasPrefix(token, a.keyPrefix):
			a.authenticate(w, r, token, a.bearerHeader)
		case a.fallback != nil:
			a.pass(w, r, a.fallback)
		case isBearer:
			a.responder.refuse(w, r, unauthorized, errForeignToken, "")
		default:
			a.responder.refuse(w, r, unauthorized, errUnsupportedScheme, "")
		}
	case a.fallback != nil:
		a.pass(w, r, a.fallback)
	case a.optional:
		a.pass(w, r, a.next)
	default:
		a.responder.refuse(w, r, unauthorized, errNoCredentials, "")
	}
}

// authenticate verifies a presented key and passes the request on with the
// key in its context, or refuses it.
func (a *authMiddleware) authenticate(w http.ResponseWriter, r *http.Request, presented, header string) {
	var key *Key
	var d Decision
	var err error
	if len(presented) > maxPresentedKeyLen {
		err = ErrMalformedKey
	} else {
		// Check's parse rejects anything but this Manager's exact format
		// (control bytes, non-ASCII) before hashing or a store call.
		key, d, err = a.check(r.Context(), presented, a.checkOpts)
	}
	if err != nil {
		if a.throttle != nil && errors.Is(err, ErrInvalidKey) {
			a.throttle.failed(a.throttle.clientAddr(r), time.Now())
		}
		if errors.Is(err, ErrRateLimited) {
			setRateLimitHeaders(w.Header(), d, a.draftHeaders, &a.manager.limits)
		}
		a.responder.refuse(w, r, classify(err), err, a.scopeParam)
		return
	}
	setRateLimitHeaders(w.Header(), d, a.draftHeaders, &a.manager.limits)
	ctx := &authContext{Context: r.Context(), key: key, manager: a.manager, method: AuthMethodAPIKey,
		responder: a.responder, room: roomOf(d), draftHeaders: a.draftHeaders}
	r2 := r.WithContext(ctx)
	if a.hide {
		r2.Header = r.Header.Clone()
		delete(r2.Header, header)
	}
	a.addVary(w.Header())
	a.next.ServeHTTP(w, r2)
}

// pass hands on a request that carries no API key (to the fallback, or
// anonymously), with this middleware's responder in its context so that
// RequireScopes downstream answers the same way.
func (a *authMiddleware) pass(w http.ResponseWriter, r *http.Request, h http.Handler) {
	a.addVary(w.Header())
	h.ServeHTTP(w, r.WithContext(&authContext{Context: r.Context(), responder: a.responder}))
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
// one or more spaces (RFC 6750 §2.1). ok is false for other schemes.
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
	g := scopeGate{scopes: slices.Clone(scopes), any: any}
	for _, s := range scopes {
		if !validScope(s) {
			g.invalid = true
		}
	}
	if !g.invalid && len(scopes) > 0 {
		g.scopeParam = scopeParam(scopes)
	}
	return func(next http.Handler) http.Handler {
		gate := g
		gate.next = next
		return &gate
	}
}

type scopeGate struct {
	next       http.Handler
	scopes     []string
	any        bool
	invalid    bool
	scopeParam string
}

func (g *scopeGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c := fromContext(r.Context())
	resp := defaultResponder
	if c != nil && c.responder != nil {
		resp = c.responder
	}
	switch {
	case g.invalid:
		resp.refuse(w, r, unavailable, errInvalidRequiredScope, "")
	case c == nil || c.key == nil && c.method == "":
		resp.refuse(w, r, unauthorized, errNoCredentials, "")
	case !g.grants(c):
		err := error(&ScopeError{Required: slices.Clone(g.scopes), Any: g.any})
		if c.key != nil {
			err = &KeyError{KeyID: c.key.ID, Err: err}
		}
		resp.refuse(w, r, forbidden, err, g.scopeParam)
	default:
		g.next.ServeHTTP(w, r)
	}
}

// grants: a fallback-authenticated request has no key and so no scopes.
func (g *scopeGate) grants(c *authContext) bool {
	var granted []string
	if c.key != nil {
		granted = c.key.Scopes
	}
	if g.any {
		return c.scopePolicy().anyOf(granted, g.scopes)
	}
	return c.scopePolicy().allOf(granted, g.scopes)
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
	errNoCredentials              = errors.New("apikey: no credentials")
	errUnsupportedScheme          = errors.New("apikey: unsupported authentication scheme")
	errDuplicateCredentials       = errors.New("apikey: credentials sent more than once")
	errForeignToken         error = &authError{"apikey: bearer token is not an API key"}
	errMisconfigured              = errors.New("apikey: middleware misconfigured")
	errInvalidRequiredScope       = errors.New("apikey: invalid required scope")
)
