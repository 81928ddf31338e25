package apikey

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/apikey/internal/jsonerr"
)

// Refusals: what the middleware answers, precomputed where it can be.

// AuthError describes a refused request to the OnError handler. It is not
// an error (it is never returned): its cause is Err.
type AuthError struct {
	Status  int    // 400, 401, 403, 429 or 503
	Code    string // unauthorized, invalid_request, forbidden, rate_limit_exceeded or service_unavailable
	Message string // the default body's message: generic, nothing from the request
	// RetryAfter is how long a rate-limited client should wait, in whole
	// seconds as sent in Retry-After; 0 when not known or not a 429.
	RetryAfter time.Duration
	// Err is the cause, for logs and audit: it matches this package's
	// sentinels (ErrMalformedKey, ErrRevoked, ErrInsufficientScope,
	// ErrStoreUnavailable, ...), and a *KeyError in it names the key by id.
	// It never holds the key. Do not send it to the client: the default
	// answers are identical for every reason a key is refused, so that a
	// client cannot tell a revoked key from an unknown one.
	Err error
}

// refusal is one kind of answer, with its body built once.
type refusal struct {
	status  int
	code    string
	message string
	body    []byte
}

func newRefusal(status int, code, message string) *refusal {
	return &refusal{status: status, code: code, message: message, body: jsonerr.Body(code, message, 0)}
}

var (
	unauthorized = newRefusal(http.StatusUnauthorized, "unauthorized", "Invalid or missing API key")
	badRequest   = newRefusal(http.StatusBadRequest, "invalid_request", "Send credentials once, in one header")
	forbidden    = newRefusal(http.StatusForbidden, "forbidden", "API key does not have access to this resource")
	rateLimited  = newRefusal(http.StatusTooManyRequests, "rate_limit_exceeded", "Rate limit exceeded")
	quotaSpent   = newRefusal(http.StatusTooManyRequests, "quota_exceeded", "Quota exceeded")
	unavailable  = newRefusal(http.StatusServiceUnavailable, "service_unavailable", "Authentication is temporarily unavailable")
	// internalError answers a request whose handler panicked (RecoverPanics).
	internalError = newRefusal(http.StatusInternalServerError, "internal_error", "Internal server error")
)

// classify maps a Verify error to an answer. Anything unexpected fails
// closed.
func classify(err error) *refusal {
	switch {
	case errors.Is(err, ErrInvalidKey):
		return unauthorized
	case errors.Is(err, ErrInsufficientScope):
		return forbidden
	case errors.Is(err, ErrStoreUnavailable):
		return unavailable
	case errors.Is(err, ErrQuotaExceeded):
		return quotaSpent
	case errors.Is(err, ErrRateLimited):
		return rateLimited
	}
	return unavailable
}

// responder writes refusals for one middleware configuration and logs them,
// and carries the settings the gates behind the middleware need.
type responder struct {
	manager        *Manager     // nil for defaultResponder
	draftHeaders   bool         // RateLimitHeadersDraft
	cost           int          // Cost, at least 1
	panicLogger    *slog.Logger // RecoverPanics: LogFailures, else the Manager's
	challenge      []string     // for 401 without credentials: Bearer realm="api"
	invalidToken   []string     // for 401 invalid_token
	invalidRequest []string     // for 400
	insufficient   []string     // for 403; a scope param is appended when known
	errorHandler   func(http.ResponseWriter, *http.Request, *AuthError)
	logger         *slog.Logger
}

func newResponder(realm string, h func(http.ResponseWriter, *http.Request, *AuthError), logger *slog.Logger) *responder {
	base := `Bearer realm="` + realm + `"`
	return &responder{
		challenge:      []string{base},
		invalidToken:   []string{base + `, error="invalid_token"`},
		invalidRequest: []string{base + `, error="invalid_request"`},
		insufficient:   []string{base + `, error="insufficient_scope"`},
		errorHandler:   h,
		logger:         logger,
	}
}

// defaultResponder answers for requests that no middleware put a responder
// in the context of (RequireScopes used alone, Manager.NewContext).
var defaultResponder = newResponder(defaultRealm, nil, slog.New(slog.DiscardHandler))

// refuse logs and answers a refused request. scopeParam is the scope="…"
// of a 403, "" when unknown.
func (p *responder) refuse(w http.ResponseWriter, r *http.Request, ans *refusal, cause error, scopeParam string) {
	h := w.Header()
	switch {
	case ans == unauthorized && errors.Is(cause, ErrInvalidKey):
		h["Www-Authenticate"] = p.invalidToken
	case ans == unauthorized:
		h["Www-Authenticate"] = p.challenge // RFC 6750 §3.1: no error code without credentials
	case ans == badRequest:
		h["Www-Authenticate"] = p.invalidRequest
	case ans == forbidden && scopeParam != "":
		h.Set("Www-Authenticate", p.insufficient[0]+", "+scopeParam)
	case ans == forbidden:
		h["Www-Authenticate"] = p.insufficient
	}
	var retryAfter int64 // seconds; 0: not known
	if ans == rateLimited || ans == quotaSpent {
		var hint interface{ RetryAfter() time.Duration }
		// A quota that never refills has no time to retry at: say none
		// rather than a made-up second.
		if errors.As(cause, &hint) && (ans == rateLimited || hint.RetryAfter() > 0) {
			retryAfter = jsonerr.RetrySeconds(hint.RetryAfter())
			h.Set("Retry-After", strconv.FormatInt(retryAfter, 10))
		}
	}
	p.log(r, ans, cause)
	p.write(w, r, ans, cause, retryAfter)
}

// write sends the body (headers other than Content-Type already set).
func (p *responder) write(w http.ResponseWriter, r *http.Request, ans *refusal, cause error, retryAfter int64) {
	if p.errorHandler != nil {
		w.Header()["Cache-Control"] = noStore
		p.errorHandler(w, r, &AuthError{Status: ans.status, Code: ans.code, Message: ans.message,
			RetryAfter: time.Duration(retryAfter) * time.Second, Err: cause})
		return
	}
	body := ans.body
	if retryAfter > 0 {
		body = jsonerr.Body(ans.code, jsonerr.RetryMessage(ans.message, retryAfter), retryAfter)
	}
	jsonerr.Send(w, ans.status, body)
}

// log records one event per refusal: why, which key when known, who and
// where; never the key.
func (p *responder) log(r *http.Request, ans *refusal, cause error) {
	level := slog.LevelInfo
	if ans == unavailable {
		level = slog.LevelError
	}
	ctx := r.Context()
	if !p.logger.Enabled(ctx, level) {
		return
	}
	attrs := make([]slog.Attr, 0, 6)
	attrs = append(attrs,
		slog.String("reason", reason(cause)),
		slog.Int("status", ans.status),
		slog.String("client", r.RemoteAddr),
		slog.String("path", r.URL.Path)) // never the query: a key put there must not reach the logs
	var ke *KeyError
	if errors.As(cause, &ke) {
		attrs = append(attrs, slog.String("key_id", ke.KeyID))
	}
	if ans == unavailable {
		// Store errors never hold the key: a Store sees only digests.
		attrs = append(attrs, slog.String("error", cause.Error()))
	}
	p.logger.LogAttrs(ctx, level, "apikey: request refused", attrs...)
}

// logPanic logs a recovered panic at Error level, with the presented
// credential cut out of the value and the stack, and so is anything
// shaped like a key of this Manager, even cut short: a handler that
// printed part of a key must not leak that part.
func (p *responder) logPanic(r *http.Request, v any, presented string) {
	value, stack := fmt.Sprint(v), string(debug.Stack())
	if len(presented) >= 8 {
		value = strings.ReplaceAll(value, presented, "[REDACTED]")
		stack = strings.ReplaceAll(stack, presented, "[REDACTED]")
	}
	if p.manager != nil {
		value = redactKeys(value, p.manager.format.prefix)
		stack = redactKeys(stack, p.manager.format.prefix)
	}
	p.panicLogger.LogAttrs(r.Context(), slog.LevelError, "apikey: handler panicked",
		slog.String("panic", value),
		slog.String("client", r.RemoteAddr),
		slog.String("path", r.URL.Path),
		slog.String("stack", stack))
}

// redactKeys replaces every "<prefix>_live_" or "<prefix>_test_" and the
// base62 characters after it with [REDACTED].
func redactKeys(s, prefix string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, prefix+"_")
		if i < 0 {
			break
		}
		rest := s[i+len(prefix)+1:]
		if !strings.HasPrefix(rest, EnvLive+"_") && !strings.HasPrefix(rest, EnvTest+"_") {
			b.WriteString(s[:i+len(prefix)+1])
			s = rest
			continue
		}
		rest = rest[envLen+1:]
		j := 0
		for j < len(rest) && base62Value[rest[j]] < 62 {
			j++
		}
		b.WriteString(s[:i])
		b.WriteString("[REDACTED]")
		s = rest[j:]
	}
	if b.Len() == 0 {
		return s
	}
	b.WriteString(s)
	return b.String()
}

// reason names the cause of a refusal for logs, from the sentinel it
// matches; the most specific first.
func reason(err error) string {
	reasons := [...]struct {
		err  error
		name string
	}{
		{ErrNoCredentials, "no_credentials"},
		{errUnsupportedScheme, "unsupported_scheme"},
		{ErrDuplicateCredentials, "duplicate_credentials"},
		{errForeignToken, "foreign_token"},
		{ErrMalformedKey, "malformed_key"},
		{ErrWrongEnvironment, "wrong_environment"},
		{ErrUnknownKey, "unknown_key"},
		{ErrRevoked, "revoked_key"},
		{ErrExpired, "expired_key"},
		{ErrDisabled, "disabled_key"},
		{ErrInsufficientScope, "insufficient_scope"},
		{context.Canceled, "canceled"}, // the client went away mid-lookup
		{ErrClosed, "manager_closed"},
		{ErrStoreUnavailable, "store_unavailable"},
		{ErrRateLimited, "rate_limited"},
		{errMisconfigured, "misconfigured"},
		{errInvalidRequiredScope, "misconfigured"},
		{errPublicWithRequirements, "misconfigured"},
	}
	for _, r := range reasons {
		if errors.Is(err, r.err) {
			return r.name
		}
	}
	return "error"
}

// noStore is the Cache-Control of every refusal, shared: Header.Set and
// Header.Add never write into a value slice.
var noStore = []string{"no-store"}
