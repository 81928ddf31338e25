package admin

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/internal/jsonerr"
)

// apiError is an answer other than success, written by jsonerr.Write as the middleware's refusals are.
type apiError struct {
	status     int
	code       string
	message    string
	retryAfter time.Duration
	cause      error // logged for 5xx; never sent
}

func badRequest(msg string) *apiError {
	return &apiError{status: 400, code: "invalid_request", message: msg}
}
func forbidden(msg string) *apiError { return &apiError{status: 403, code: "forbidden", message: msg} }

var (
	errNotFound     = &apiError{status: 404, code: "not_found", message: "API key not found"}
	errNoRoute      = &apiError{status: 404, code: "not_found", message: "No such route"}
	errUnauthorized = &apiError{status: 401, code: "unauthorized", message: "Authentication required"}
	errNoAccess     = forbidden("The caller does not have access to API key management")
	errConflict     = &apiError{status: 409, code: "conflict", message: "The key's state does not allow this (already rotated, or expired)"}
	errTooLarge     = &apiError{status: 413, code: "request_too_large", message: "The request body is too large"}
	errMediaType    = &apiError{status: 415, code: "unsupported_media_type", message: "Send the body as application/json"}
	errCSRFOrigin   = &apiError{status: 403, code: "csrf_failed", message: "Cross-origin request refused"}
)

// write sends e, and logs the cause of a server error.
func (h *handler) write(w http.ResponseWriter, r *http.Request, e *apiError) {
	if e.status >= 500 && e.cause != nil {
		h.cfg.logger.LogAttrs(r.Context(), slog.LevelError, "apikey/admin: request failed",
			slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.String("error", e.cause.Error()))
	}
	if e.status == http.StatusForbidden {
		// Refused: the caller's key keeps its budget. (404s spend it
		// alike, so that another owner's key cannot be told from none.)
		apikey.GiveBack(r.Context())
	}
	writeError(w, e)
}

func writeError(w http.ResponseWriter, e *apiError) {
	jsonerr.Write(w, e.status, e.code, e.message, e.retryAfter)
}

// fromError maps an error of the Manager (or of the create limit) to an
// answer.
func fromError(err error) *apiError {
	var pe *apikey.ParamError
	switch {
	case errors.As(err, &pe):
		return badRequest(pe.Field + ": " + pe.Reason)
	case errors.Is(err, apikey.ErrNotFound):
		return errNotFound
	case errors.Is(err, apikey.ErrConflict):
		return errConflict
	case errors.Is(err, apikey.ErrRateLimited):
		e := &apiError{status: 429, code: "rate_limit_exceeded", message: "Rate limit exceeded"}
		var hint interface{ RetryAfter() time.Duration }
		if errors.As(err, &hint) {
			e.retryAfter = hint.RetryAfter()
		}
		return e
	case errors.Is(err, apikey.ErrNoAuditStore):
		return &apiError{status: 501, code: "not_implemented", message: "This service keeps no audit log in its store"}
	case errors.Is(err, apikey.ErrStoreUnavailable):
		return &apiError{status: 503, code: "service_unavailable", message: "The key store is temporarily unavailable", cause: err}
	}
	return &apiError{status: 500, code: "internal_error", message: "Internal error", cause: err}
}

// decode reads r's JSON body into dst: one object, no unknown fields, at
// most the configured size. An empty body is allowed when optional.
func (h *handler) decode(w http.ResponseWriter, r *http.Request, dst any, optional bool) *apiError {
	// The handler has refused bodies that are not application/json.
	body := http.MaxBytesReader(w, r.Body, h.cfg.maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if err == io.EOF && optional {
		return nil
	}
	if err == nil {
		if _, err = dec.Token(); err == io.EOF {
			return nil
		}
		if err == nil {
			return badRequest("body: must be one JSON object, with nothing after it")
		}
	}
	return decodeError(err)
}

func decodeError(err error) *apiError {
	var (
		tooLarge *http.MaxBytesError
		typeErr  *json.UnmarshalTypeError
		syntax   *json.SyntaxError
	)
	switch {
	case errors.As(err, &tooLarge):
		return errTooLarge
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return badRequest("body: must be a JSON object")
	case errors.As(err, &typeErr):
		// The top-level field only: a path may go on into a client's metadata keys.
		field, _, _ := strings.Cut(typeErr.Field, ".")
		return badRequest(field + ": must be " + jsonType(typeErr.Type.String()))
	case errors.As(err, &syntax):
		return badRequest("body: invalid JSON at byte " + strconv.FormatInt(syntax.Offset, 10))
	case err == io.EOF:
		return badRequest("body: must be a JSON object")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("body: truncated JSON")
	}
	// encoding/json reports unknown fields only as text: json: unknown field "x".
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		if n, err := strconv.Unquote(name); err == nil && len(n) <= 64 {
			return badRequest(fmt.Sprintf("%s: unknown field", strconv.Quote(n)))
		}
		return badRequest("body: unknown field")
	}
	return badRequest("body: invalid JSON")
}

// jsonType names a Go type as JSON would.
func jsonType(goType string) string {
	switch {
	case goType == "string", goType == "*string":
		return "a string"
	case goType == "bool", goType == "*bool":
		return "a boolean"
	case strings.Contains(goType, "int"):
		return "an integer"
	case strings.HasPrefix(goType, "[]"):
		return "an array of strings"
	case strings.HasPrefix(goType, "map["):
		return "an object of strings"
	}
	return "of another type"
}
