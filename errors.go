package apikey

import (
	"errors"
	"fmt"
	"strings"
)

// The errors of this package. Check them with errors.Is: returned errors are
// often wrapped and carry more detail (a key id, the field at fault).
//
// Every authentication failure (malformed, unknown, revoked, expired,
// disabled or wrong-environment key) also matches ErrInvalidKey, so a caller
// can answer all of them uniformly while the precise reason stays available
// for logs and audit.
var (
	// ErrInvalidKey matches every authentication failure.
	ErrInvalidKey = errors.New("apikey: invalid API key")

	// ErrMalformedKey: the string is not a key of this Manager's format
	// (length, prefix, characters or checksum). Detected without hashing
	// and without a store call.
	ErrMalformedKey error = &authError{"apikey: malformed API key"}
	// ErrWrongEnvironment: a well-formed key of an environment this Manager
	// does not accept (see WithEnvironments). Detected without a store call.
	ErrWrongEnvironment error = &authError{"apikey: API key environment not accepted"}
	// ErrUnknownKey: well-formed, but no key with this digest exists.
	ErrUnknownKey error = &authError{"apikey: unknown API key"}
	// ErrRevoked: the key was revoked.
	ErrRevoked error = &authError{"apikey: API key revoked"}
	// ErrExpired: the key's ExpiresAt has passed.
	ErrExpired error = &authError{"apikey: API key expired"}
	// ErrDisabled: the key is disabled (reversibly, see Manager.Disable).
	ErrDisabled error = &authError{"apikey: API key disabled"}

	// ErrNoCredentials: the request presents no API key (KeyFromRequest):
	// no credential header, or Authorization of a scheme other than
	// Bearer. Answer 401 without an error code (RFC 6750 §3.1).
	ErrNoCredentials = errors.New("apikey: no credentials")
	// ErrDuplicateCredentials: the request presents credentials more than
	// once, in both headers or one repeated (KeyFromRequest). Answer 400
	// invalid_request, and check neither.
	ErrDuplicateCredentials = errors.New("apikey: credentials sent more than once")

	// ErrInsufficientScope: the key is valid but lacks a required scope.
	// It does not match ErrInvalidKey: the answer is 403, not 401.
	ErrInsufficientScope = errors.New("apikey: insufficient scope")
	// ErrRateLimited: the key is valid but over one of its limits or its
	// quota; the *RateLimitError says which and when to retry.
	ErrRateLimited = errors.New("apikey: rate limited")
	// ErrQuotaExceeded: the key's usage quota is spent. It also matches
	// ErrRateLimited.
	ErrQuotaExceeded = errors.New("apikey: quota exceeded")

	// ErrNotFound: no such key for a management call (Get, Revoke, ...).
	// Revoking an already revoked key is ErrNotFound too.
	ErrNotFound = errors.New("apikey: not found")
	// ErrInvalidParams: a management call's parameters are invalid; the
	// wrapping *ParamError names the field.
	ErrInvalidParams = errors.New("apikey: invalid parameters")
	// ErrConflict: the call conflicts with the key's state (for example
	// rotating a key that was already rotated) or with another record.
	ErrConflict = errors.New("apikey: conflict")
	// ErrStoreUnavailable: the store failed or timed out. Callers must fail
	// closed (the middleware answers 503), never treat it as a bad key.
	ErrStoreUnavailable = errors.New("apikey: store unavailable")
	// ErrNoAuditStore: ListAudit on a Manager whose store keeps no audit
	// log (see audit.Store and WithAuditStore).
	ErrNoAuditStore = errors.New("apikey: the store keeps no audit log")
	// ErrClosed: the Manager was closed. It matches ErrStoreUnavailable, so
	// a closed Manager fails closed.
	ErrClosed = fmt.Errorf("%w: manager closed", ErrStoreUnavailable)
)

// authError is the type of the authentication-failure sentinels: each is
// distinct, and each also matches ErrInvalidKey.
type authError struct{ msg string }

func (e *authError) Error() string        { return e.msg }
func (e *authError) Is(target error) bool { return target == ErrInvalidKey }

// KeyError is an authentication failure of a key that exists (revoked,
// expired, disabled) or an authorization failure (insufficient scope). It
// names the key by id, for logs and audit; it never holds the key itself.
type KeyError struct {
	KeyID string
	Err   error // one of the sentinels above, possibly wrapped
}

func (e *KeyError) Error() string { return e.Err.Error() + " (key " + e.KeyID + ")" }
func (e *KeyError) Unwrap() error { return e.Err }

// ScopeError reports the scopes a request required that a key does not
// grant. It matches ErrInsufficientScope.
type ScopeError struct {
	// Required is the full set the request asked for, as given by the
	// server (never client input), suitable for a scope="…" challenge.
	Required []string
	// Any is true when one of Required would have sufficed.
	Any bool
}

func (e *ScopeError) Error() string {
	how := "requires "
	if e.Any {
		how = "requires one of "
	}
	return ErrInsufficientScope.Error() + ": " + how + strings.Join(e.Required, " ")
}

func (e *ScopeError) Unwrap() error { return ErrInsufficientScope }

// ParamError reports an invalid parameter of a management call. It matches
// ErrInvalidParams. Field uses the snake_case name of the parameter
// ("name", "scopes", "expires_at", ...), as a REST layer would show it.
type ParamError struct {
	Field  string
	Reason string
}

func (e *ParamError) Error() string {
	return ErrInvalidParams.Error() + ": " + e.Field + ": " + e.Reason
}

func (e *ParamError) Unwrap() error { return ErrInvalidParams }

func paramErr(field, reason string) error { return &ParamError{Field: field, Reason: reason} }
