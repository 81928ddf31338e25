package apikey

import (
	"encoding/json"
	"net/http"
	"strconv"
)

// WriteError writes e as the middleware's default refusals are written:
// status e.Status, a JSON body {"error":{"code":…,"message":…}} (with
// retry_after in seconds when e.RetryAfter is set, the message ending
// "Retry after N seconds.", and a Retry-After header), Content-Type: application/json, Cache-Control: no-store and
// X-Content-Type-Options: nosniff. e.Err is not written. Handlers that
// answer beside the middleware (package admin) use it to answer alike.
func WriteError(w http.ResponseWriter, e *AuthError) {
	h := w.Header()
	h["Content-Type"] = jsonContentType
	h["Cache-Control"] = noStore
	h["X-Content-Type-Options"] = noSniff
	detail := errorDetail{Code: e.Code, Message: e.Message}
	if e.RetryAfter > 0 {
		detail.RetryAfter = retrySeconds(e.RetryAfter)
		detail.Message = retryMessage(e.Message, detail.RetryAfter)
		h.Set("Retry-After", strconv.FormatInt(detail.RetryAfter, 10))
	}
	body, _ := json.Marshal(errorBody{Error: detail})
	w.WriteHeader(e.Status)
	_, _ = w.Write(body) // the client went away: nothing to do
}
