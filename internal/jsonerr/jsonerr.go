// Package jsonerr writes the JSON error answers of the middleware (package
// apikey) and of the admin API (package admin), so both answer in one shape
// with one set of headers: a body {"error":{"code":…,"message":…}} (with
// retry_after in seconds when known), Content-Type: application/json,
// Cache-Control: no-store and X-Content-Type-Options: nosniff.
package jsonerr

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Header values shared by every answer. Header.Set and Header.Add never
// write into a value slice (Set replaces it, Add appends to a full one), so
// sharing them saves an allocation per header.
var (
	contentType = []string{"application/json"}
	noStore     = []string{"no-store"}
	noSniff     = []string{"nosniff"}
)

type body struct {
	Error detail `json:"error"`
}

type detail struct {
	Code       string `json:"code"`
	Message    string `json:"message"`
	RetryAfter int64  `json:"retry_after,omitempty"` // seconds
}

// Body returns the JSON body of an error answer; retryAfter is in seconds,
// 0 when unknown.
func Body(code, message string, retryAfter int64) []byte {
	b, _ := json.Marshal(body{Error: detail{Code: code, Message: message, RetryAfter: retryAfter}})
	return b
}

// Send writes status and body (from Body) with the error answers' headers.
// Other headers (Retry-After, WWW-Authenticate) are the caller's.
func Send(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = contentType
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = noSniff
	w.WriteHeader(status)
	_, _ = w.Write(body) // the client went away: nothing to do
}

// Write writes an error answer. When retryAfter is positive it adds a
// Retry-After header and retry_after, and the message ends "Retry after N
// seconds." (RetryMessage).
func Write(w http.ResponseWriter, status int, code, message string, retryAfter time.Duration) {
	var secs int64
	if retryAfter > 0 {
		secs = RetrySeconds(retryAfter)
		message = RetryMessage(message, secs)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	Send(w, status, Body(code, message, secs))
}

// RetryMessage is the message of a refusal with a Retry-After of seconds:
// "Rate limit exceeded. Retry after 1 second." (or N seconds).
func RetryMessage(message string, seconds int64) string {
	unit := " seconds."
	if seconds == 1 {
		unit = " second."
	}
	return message + ". Retry after " + strconv.FormatInt(seconds, 10) + unit
}

// RetrySeconds is a Retry-After delay in whole seconds, rounded up and
// never 0 (0 would invite an immediate retry).
func RetrySeconds(d time.Duration) int64 {
	s := int64((d + time.Second - 1) / time.Second)
	return max(s, 1)
}
