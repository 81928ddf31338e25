package leak

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/keyward/apikey"
)

// Public revoke endpoint
//
// Anyone who finds a key may have it revoked, in the shape of GitHub's
// credential revocation API:
//
//	POST {"credentials":["sk_live_…", …]}  (1 to 1,000)  → 202
//
// The answer is the same for live, revoked, unknown and malformed keys.
// 422 when the body is not that shape or holds more than 1,000 keys, 413
// when it is over MaxBodyBytes, 429 (with Retry-After) when the client is
// over its throttle.

// PublicRequest is the body of a request to Public.
type PublicRequest struct {
	Credentials []string `json:"credentials"`
}

// Public returns the unauthenticated revoke endpoint over m, throttled
// per client address (ClientAddr) to Throttle through the Manager's
// limiter; the throttle is taken before the body is read. Options: WithPolicy,
// WithMaxBodyBytes, WithLogger, WithThrottle, WithClientAddr.
func Public(m *apikey.Manager, opts ...Option) (http.Handler, error) {
	if m == nil {
		return nil, invalid("manager", "must not be nil")
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &publicHandler{in: intake{m: m, cfg: c, source: "public"}}, nil
}

type publicHandler struct{ in intake }

func (h *publicHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !methodOnly(w, r, http.MethodPost) {
		return
	}
	client := h.in.cfg.clientAddr(r)
	_, err := h.in.m.Allow(r.Context(), apikey.LimitRequest{
		Key: apikey.LimitKey{Policy: "leak_public", Subject: client}, Limit: h.in.cfg.limit, Cost: 1, Name: "leak_public"})
	var limited *apikey.RateLimitError
	switch {
	case errors.As(err, &limited):
		secs := int64((limited.Decision.RetryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(max(secs, 1), 10))
		writeError(w, http.StatusTooManyRequests, "rate_limit_exceeded", "Too many requests.")
		return
	case err != nil:
		h.in.failed(w, r, err)
		return
	}
	body, ok := h.in.readBody(w, r)
	if !ok {
		return
	}
	var req PublicRequest
	if err := json.Unmarshal(body, &req); err != nil || len(req.Credentials) == 0 || len(req.Credentials) > MaxPublicCredentials {
		writeError(w, http.StatusUnprocessableEntity, "validation_failed", "The body must be {\"credentials\":[…]} with 1 to 1000 keys.")
		return
	}
	reports := make([]report, len(req.Credentials))
	for i, c := range req.Credentials {
		reports[i] = report{token: c, source: "public"}
	}
	if _, err := h.in.reportAll(r.Context(), r, reports); err != nil {
		h.in.failed(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, struct{}{})
}
