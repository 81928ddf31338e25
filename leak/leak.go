// Package leak receives reports of leaked API keys and acts on them
// through apikey.Manager.ReportLeak: revoke (the default), disable, or
// record only. It provides the http.Handlers a service mounts:
//
//   - GitHub: the endpoint of GitHub's secret scanning partner program,
//     verifying GitHub's ECDSA signature over the raw body against GitHub's
//     published keys, and answering with true/false-positive feedback;
//   - GitLab: GitLab's token revocation API (GET /v1/revocable_token_types,
//     POST /v1/revoke_tokens), behind a pre-shared token;
//   - Public: an unauthenticated revoke endpoint in the shape of GitHub's
//     credential revocation API (up to 1,000 keys a request, 202, throttled
//     per client address).
//
// A reported key is never stored, logged or echoed (GitHub's feedback
// carries its SHA-256, as GitHub asks). GitLab and Public answer the same
// whether a key was live, already revoked, unknown or not a key at all;
// only GitHub, whose requests are signed, learns which reports were true
// positives. Every report of a key of the store is audited as key.leaked
// (see apikey.ReportLeak). Handlers answer 401 to a bad signature or
// token, 413 to a body over the limit, and 503 when the store fails
// (report again: every handler is idempotent).
package leak

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
)

// Defaults.
const (
	// DefaultMaxBodyBytes bounds a request body: 1 MiB holds a batch of
	// 1,000 reports with long URLs.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultGitHubKeysURL is where GitHub publishes its secret scanning
	// signing keys.
	DefaultGitHubKeysURL = "https://api.github.com/meta/public_keys/secret_scanning"
	// DefaultRefetchInterval is the least time between two fetches of the
	// signing keys.
	DefaultRefetchInterval = time.Minute
	// MaxPublicCredentials is the most keys one request to Public may
	// carry, as GitHub's credential revocation API.
	MaxPublicCredentials = 1000
	// DefaultGitLabTokenType is the token type GitLab lists by default.
	DefaultGitLabTokenType = "apikey"
)

// DefaultPublicLimit is the throttle of Public per client address: 60
// requests an hour, as GitHub's credential revocation API.
var DefaultPublicLimit = apikey.PerHour(60)

// Option configures a handler of this package. Options that do not apply
// to a handler are ignored by it.
type Option func(*config)

type config struct {
	policy     apikey.LeakPolicy
	maxBody    int64
	logger     *slog.Logger
	keysURL    string
	client     *http.Client
	refetch    time.Duration
	now        func() time.Time
	types      []string
	limit      apikey.Limit
	clientAddr func(*http.Request) string
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		policy:     apikey.LeakRevoke,
		maxBody:    DefaultMaxBodyBytes,
		logger:     slog.New(slog.DiscardHandler),
		keysURL:    DefaultGitHubKeysURL,
		client:     &http.Client{Timeout: 10 * time.Second},
		refetch:    DefaultRefetchInterval,
		now:        time.Now,
		types:      []string{DefaultGitLabTokenType},
		limit:      DefaultPublicLimit,
		clientAddr: PeerAddr,
	}
	for _, opt := range opts {
		opt(c)
	}
	switch {
	case c.policy != apikey.LeakRevoke && c.policy != apikey.LeakDisable && c.policy != apikey.LeakNotify:
		return nil, invalid("policy", "must be revoke, disable or notify")
	case c.maxBody <= 0:
		return nil, invalid("max_body_bytes", "must be positive")
	case c.logger == nil, c.client == nil, c.now == nil, c.clientAddr == nil:
		return nil, invalid("option", "logger, HTTP client, clock and client address must not be nil")
	case c.refetch <= 0:
		return nil, invalid("refetch_interval", "must be positive")
	case len(c.types) == 0:
		return nil, invalid("token_types", "must not be empty")
	case c.limit.Requests <= 0 || c.limit.Period <= 0 || c.limit.Burst < 0:
		return nil, invalid("limit", "requests and period must be positive")
	}
	return c, nil
}

func invalid(field, reason string) error {
	return &apikey.ParamError{Field: field, Reason: reason}
}

// WithPolicy sets what is done to a live key reported leaked: apikey.LeakRevoke
// (the default), apikey.LeakDisable or apikey.LeakNotify.
func WithPolicy(p apikey.LeakPolicy) Option { return func(c *config) { c.policy = p } }

// WithMaxBodyBytes bounds request bodies (default DefaultMaxBodyBytes); a
// larger body is answered 413 before any work.
func WithMaxBodyBytes(n int64) Option { return func(c *config) { c.maxBody = n } }

// WithLogger sets where failures are logged (default: nowhere). Reported keys
// are never logged.
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

// WithPublicKeysURL sets where GitHub's signing keys are fetched (default
// DefaultGitHubKeysURL). GitHub.
func WithPublicKeysURL(u string) Option { return func(c *config) { c.keysURL = u } }

// WithHTTPClient sets the client that fetches the signing keys (default: one
// with a 10 s timeout). GitHub.
func WithHTTPClient(h *http.Client) Option { return func(c *config) { c.client = h } }

// WithRefetchInterval sets the least time between two fetches of the signing
// keys when a request names an unknown one (default 1 minute). GitHub.
func WithRefetchInterval(d time.Duration) Option { return func(c *config) { c.refetch = d } }

// WithClock sets the handlers' clock, for tests.
func WithClock(now func() time.Time) Option { return func(c *config) { c.now = now } }

// WithTokenTypes sets the token types GitLab lists and accepts (default
// DefaultGitLabTokenType): the rule IDs of GitLab's secret detection that
// find this service's keys. GitLab.
func WithTokenTypes(types ...string) Option { return func(c *config) { c.types = types } }

// WithThrottle sets the per-client limit of Public (default
// DefaultPublicLimit). It is taken through the Manager's limiter (see
// apikey.WithLimiter), so instances sharing a Redis limiter share it.
func WithThrottle(l apikey.Limit) Option { return func(c *config) { c.limit = l } }

// WithClientAddr sets how Public names the client it throttles (default
// PeerAddr). Behind a proxy, derive it from the header the proxy sets,
// trusting only that proxy.
func WithClientAddr(f func(*http.Request) string) Option { return func(c *config) { c.clientAddr = f } }

// PeerAddr is the peer's IP address, without the port; an IPv6 address
// counts per /64, what one subscriber usually holds.
func PeerAddr(r *http.Request) string {
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	a := ap.Addr().Unmap()
	if a.Is6() {
		return netip.PrefixFrom(a, 64).Masked().String()
	}
	return a.String()
}

// intake is what every handler shares: the Manager and how to report.
type intake struct {
	m      *apikey.Manager
	cfg    *config
	source string // the handler's name in the audit log: github, gitlab, public
}

// report is one reported key and where it was found.
type report struct {
	token, source, url string
}

// reportAll reports each key once (a batch may repeat one) and says which
// were keys of the store. It stops at the first store failure: reports
// are idempotent, so the sender may send the whole batch again.
func (in *intake) reportAll(ctx context.Context, r *http.Request, reports []report) ([]bool, error) {
	ctx = audit.ContextWithActor(ctx, audit.Actor{Type: audit.ActorSystem, ID: "leak/" + in.source,
		ClientAddr: PeerAddr(r), RequestID: r.Header.Get("X-Request-Id")})
	found := make([]bool, len(reports))
	seen := make(map[string]bool, len(reports))
	for i, rep := range reports {
		if f, ok := seen[rep.token]; ok {
			found[i] = f
			continue
		}
		res, err := in.m.ReportLeak(ctx, apikey.LeakReport{Key: rep.token, Source: rep.source, URL: rep.url, Policy: in.cfg.policy})
		if err != nil {
			return nil, err
		}
		seen[rep.token], found[i] = res.Found, res.Found
	}
	return found, nil
}

// readBody reads at most the configured bytes of r's body: false (and 413
// written) when it is larger.
func (in *intake) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.ContentLength > in.cfg.maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "The request body is too large.")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, in.cfg.maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", "The request body is too large.")
		return nil, false
	case err != nil:
		writeError(w, http.StatusBadRequest, "invalid_request", "The request body could not be read.")
		return nil, false
	}
	return body, true
}

// failed answers a failure of ReportLeak: 503 for the store (retry), 500
// otherwise. The error never holds a key.
func (in *intake) failed(w http.ResponseWriter, r *http.Request, err error) {
	in.cfg.logger.LogAttrs(r.Context(), slog.LevelError, "leak: reporting leaked keys failed",
		slog.String("handler", in.source), slog.String("error", err.Error()))
	if errors.Is(err, apikey.ErrStoreUnavailable) {
		writeError(w, http.StatusServiceUnavailable, "service_unavailable", "Try again later.")
		return
	}
	writeError(w, http.StatusInternalServerError, "internal_error", "Internal error.")
}

// methodOnly answers 405 unless r's method is method.
func methodOnly(w http.ResponseWriter, r *http.Request, method string) bool {
	if r.Method == method {
		return true
	}
	w.Header().Set("Allow", method)
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Method not allowed.")
	return false
}

// writeError writes the library's error shape,
// {"error":{"code":…,"message":…}}, with nothing from the request.
func writeError(w http.ResponseWriter, status int, code, message string) {
	type detail struct {
		Code       string `json:"code"`
		Message    string `json:"message"`
		RetryAfter int64  `json:"retry_after,omitempty"`
	}
	d := detail{Code: code, Message: message}
	if ra := w.Header().Get("Retry-After"); ra != "" {
		d.RetryAfter, _ = strconv.ParseInt(ra, 10, 64)
	}
	writeJSON(w, status, struct {
		Error detail `json:"error"`
	}{d})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	body, _ := json.Marshal(v)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
