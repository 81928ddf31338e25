package leak

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/keyward/apikey"
)

// GitHub secret scanning partner program
//
// GitHub POSTs a JSON array of matches,
//
//	[{"token":"sk_live_…","type":"acme_api_key","url":"https://github.com/…","source":"commit"}]
//
// with the headers Github-Public-Key-Identifier (which of GitHub's keys
// signed it) and Github-Public-Key-Signature (base64 of the DER ECDSA
// P-256 signature of SHA-256 over the raw body). The keys are published
// as {"public_keys":[{"key_identifier":"…","key":"-----BEGIN PUBLIC KEY-----…","is_current":true}]}.
// The answer is the feedback array, one entry per match, in order:
//
//	[{"token_hash":"<hex SHA-256 of the token>","token_type":"acme_api_key","label":"true_positive"}]

// Header names of GitHub's signed requests.
const (
	HeaderGitHubKeyID     = "Github-Public-Key-Identifier"
	HeaderGitHubSignature = "Github-Public-Key-Signature"
)

// Feedback labels.
const (
	LabelTruePositive  = "true_positive"
	LabelFalsePositive = "false_positive"
)

// GitHubMatch is one entry of GitHub's request.
type GitHubMatch struct {
	Token  string `json:"token"`
	Type   string `json:"type"`
	URL    string `json:"url"`
	Source string `json:"source"`
}

// GitHubFeedback is one entry of the answer: true_positive when the token
// is a key of the store (in any state), false_positive otherwise.
type GitHubFeedback struct {
	TokenHash string `json:"token_hash"`
	TokenType string `json:"token_type"`
	Label     string `json:"label"`
}

// GitHub returns the handler of GitHub's secret scanning partner program
// over m. It answers 200 with the feedback array once every match is
// acted on; 401 when a signature header is missing or malformed, the key
// identifier is unknown (after one re-fetch of the keys, at most once per
// RefetchInterval) or the signature does not verify over the raw body; 413
// for a body over MaxBodyBytes; 400 for a signed body that is not the
// expected JSON; 503 when the keys cannot be fetched or the store fails.
// Options: WithPolicy, WithMaxBodyBytes, WithLogger, WithPublicKeysURL, WithHTTPClient,
// WithRefetchInterval, WithClock.
func GitHub(m *apikey.Manager, opts ...Option) (http.Handler, error) {
	if m == nil {
		return nil, invalid("manager", "must not be nil")
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &githubHandler{
		in:   intake{m: m, cfg: c, source: "github"},
		keys: &keySet{url: c.keysURL, client: c.client, interval: c.refetch, now: c.now},
	}, nil
}

type githubHandler struct {
	in   intake
	keys *keySet
}

// Bounds on the headers: a P-256 identifier is a hex SHA-256 (64) and a
// DER signature at most 72 bytes (96 in base64).
const (
	maxKeyIDLen     = 256
	maxSignatureLen = 256
)

func (h *githubHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !methodOnly(w, r, http.MethodPost) {
		return
	}
	id, sigB64 := r.Header.Get(HeaderGitHubKeyID), r.Header.Get(HeaderGitHubSignature)
	sig, err := base64.StdEncoding.DecodeString(sigB64)
	if id == "" || len(id) > maxKeyIDLen || len(sigB64) > maxSignatureLen || err != nil || len(sig) == 0 {
		h.unauthorized(w)
		return
	}
	body, ok := h.in.readBody(w, r)
	if !ok {
		return
	}
	pub, err := h.keys.key(r.Context(), id)
	switch {
	case errors.Is(err, errUnknownKeyID):
		h.unauthorized(w)
		return
	case err != nil:
		h.in.cfg.logger.LogAttrs(r.Context(), slog.LevelError, "leak: fetching GitHub's signing keys failed",
			slog.String("error", err.Error()))
		writeError(w, http.StatusServiceUnavailable, "service_unavailable", "Try again later.")
		return
	}
	digest := sha256.Sum256(body)
	if !ecdsa.VerifyASN1(pub, digest[:], sig) {
		h.unauthorized(w)
		return
	}
	var matches []GitHubMatch
	if err := json.Unmarshal(body, &matches); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "The body must be a JSON array of matches.")
		return
	}
	reports := make([]report, len(matches))
	for i, mt := range matches {
		src := "github"
		if mt.Source != "" {
			src += ":" + mt.Source
		}
		reports[i] = report{token: mt.Token, source: src, url: mt.URL}
	}
	found, err := h.in.reportAll(r.Context(), r, reports)
	if err != nil {
		h.in.failed(w, r, err)
		return
	}
	feedback := make([]GitHubFeedback, len(matches))
	for i, mt := range matches {
		sum := sha256.Sum256([]byte(mt.Token))
		feedback[i] = GitHubFeedback{TokenHash: hex.EncodeToString(sum[:]), TokenType: mt.Type, Label: LabelFalsePositive}
		if found[i] {
			feedback[i].Label = LabelTruePositive
		}
	}
	writeJSON(w, http.StatusOK, feedback)
}

func (h *githubHandler) unauthorized(w http.ResponseWriter) {
	writeError(w, http.StatusUnauthorized, "unauthorized", "The request is not signed by a known key.")
}

var errUnknownKeyID = errors.New("leak: unknown signing key identifier")

// maxKeysBody bounds the key server's answer.
const maxKeysBody = 1 << 20

// keySet caches the signing keys by identifier. An unknown identifier
// makes it fetch the keys again, at most once per interval, so that a
// flood of made-up identifiers costs one fetch a minute, not one each.
type keySet struct {
	url      string
	client   *http.Client
	interval time.Duration
	now      func() time.Time

	fetching sync.Mutex // one fetch at a time; lookups of known keys never wait for it
	mu       sync.Mutex
	keys     map[string]*ecdsa.PublicKey
	last     time.Time // of the last fetch, successful or not
	lastErr  error     // its error: answered until the next fetch is due
	fetched  bool
}

// maxFetchTime bounds a fetch whatever the HTTP client's timeout.
const maxFetchTime = 30 * time.Second

// key returns the key named id, fetching the set when id is unknown and
// the last fetch is older than the interval. errUnknownKeyID when it is
// still unknown; the fetch's error when it failed (until the next fetch
// is due, so that a key server down means 503 and a retry, not 401).
func (s *keySet) key(ctx context.Context, id string) (*ecdsa.PublicKey, error) {
	if k, due, err := s.cached(id); k != nil || !due {
		return k, err
	}
	s.fetching.Lock()
	defer s.fetching.Unlock()
	k, due, err := s.cached(id) // another request may have fetched meanwhile
	if k != nil || !due {
		return k, err
	}
	s.mu.Lock()
	s.fetched, s.last = true, s.now()
	s.mu.Unlock()
	// The fetch is shared by whoever waits: one caller going away must
	// not fail it, nor a hung key server hold everyone.
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), maxFetchTime)
	defer cancel()
	keys, err := s.fetch(fctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastErr = err
	if err != nil {
		return nil, err
	}
	s.keys = keys
	if k := s.keys[id]; k != nil {
		return k, nil
	}
	return nil, errUnknownKeyID
}

// cached returns the key named id if it is known; otherwise whether a
// fetch is due and, if not, the error to answer.
func (s *keySet) cached(id string) (k *ecdsa.PublicKey, due bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k := s.keys[id]; k != nil {
		return k, false, nil
	}
	if s.fetched && s.now().Sub(s.last) < s.interval {
		if s.lastErr != nil {
			return nil, false, s.lastErr
		}
		return nil, false, errUnknownKeyID
	}
	return nil, true, nil
}

// fetch reads the published keys. A key that does not parse as a P-256
// public key is skipped; a set without any usable key is an error (the
// cached set stays).
func (s *keySet) fetch(ctx context.Context) (map[string]*ecdsa.PublicKey, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, fmt.Errorf("leak: signing keys: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("leak: signing keys: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("leak: signing keys: status %d", resp.StatusCode)
	}
	var doc struct {
		PublicKeys []struct {
			KeyIdentifier string `json:"key_identifier"`
			Key           string `json:"key"`
			IsCurrent     bool   `json:"is_current"`
		} `json:"public_keys"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxKeysBody)).Decode(&doc); err != nil {
		return nil, fmt.Errorf("leak: signing keys: %w", err)
	}
	keys := make(map[string]*ecdsa.PublicKey, len(doc.PublicKeys))
	for _, k := range doc.PublicKeys {
		if pub := parseP256(k.Key); pub != nil && k.KeyIdentifier != "" {
			keys[k.KeyIdentifier] = pub
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("leak: signing keys: no usable P-256 key published")
	}
	return keys, nil
}

func parseP256(pemText string) *ecdsa.PublicKey {
	block, _ := pem.Decode([]byte(pemText))
	if block == nil {
		return nil
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil
	}
	pub, ok := k.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return nil
	}
	return pub
}
