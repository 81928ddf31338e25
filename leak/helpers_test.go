package leak_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// fixture is a Manager and an API it protects, on loopback.
type fixture struct {
	t     *testing.T
	m     *apikey.Manager
	store *flakyStore
	api   *httptest.Server
}

// flakyStore is a memstore whose lookups fail on demand.
type flakyStore struct {
	*memstore.Store
	fail atomic.Bool
}

func (s *flakyStore) ByDigest(ctx context.Context, d apikey.Digest) (*apikey.Record, error) {
	if s.fail.Load() {
		return nil, context.DeadlineExceeded
	}
	return s.Store.ByDigest(ctx, d)
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	store := &flakyStore{Store: memstore.New()}
	// A long cache: the leaked key must answer 401 at once anyway.
	m, err := apikey.New(store, apikey.WithCache(time.Minute))
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	api := httptest.NewServer(m.Middleware()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	})))
	t.Cleanup(api.Close)
	return &fixture{t: t, m: m, store: store, api: api}
}

// key creates a key and checks that it works (and is now cached).
func (f *fixture) key() string {
	f.t.Helper()
	_, secret, err := f.m.Create(context.Background(), apikey.CreateParams{Name: "leaky"})
	require.NoError(f.t, err)
	require.Equal(f.t, http.StatusOK, f.status(secret))
	return secret
}

// revoked creates a key and revokes it.
func (f *fixture) revoked() string {
	f.t.Helper()
	k, secret, err := f.m.Create(context.Background(), apikey.CreateParams{Name: "old"})
	require.NoError(f.t, err)
	require.NoError(f.t, f.m.Revoke(context.Background(), k.ID))
	return secret
}

// status is what the protected API answers to secret.
func (f *fixture) status(secret string) int {
	f.t.Helper()
	req, err := http.NewRequest(http.MethodGet, f.api.URL, nil)
	require.NoError(f.t, err)
	req.Header.Set("Authorization", "Bearer "+secret)
	resp, err := f.api.Client().Do(req)
	require.NoError(f.t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// unknownKeys returns n well-formed keys that are not in f's store.
func unknownKeys(t *testing.T, n int) []string {
	t.Helper()
	m, err := apikey.New(memstore.New(), apikey.WithoutUsageTracking())
	require.NoError(t, err)
	defer m.Close()
	keys := make([]string, n)
	for i := range keys {
		_, keys[i], err = m.Create(context.Background(), apikey.CreateParams{Name: "elsewhere"})
		require.NoError(t, err)
	}
	return keys
}

// serve mounts h on a loopback server.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// post sends body with headers and returns the status and body.
func post(t *testing.T, url string, body []byte, headers map[string]string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, out, resp.Header
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// signer is one of the key server's signing keys.
type signer struct {
	id  string
	key *ecdsa.PrivateKey
}

func newSigner(t *testing.T) *signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	require.NoError(t, err)
	id := sha256.Sum256(der)
	return &signer{id: base64.RawURLEncoding.EncodeToString(id[:]), key: k}
}

// sign returns the Github-Public-Key-Signature of body.
func (s *signer) sign(t *testing.T, body []byte) string {
	t.Helper()
	d := sha256.Sum256(body)
	sig, err := ecdsa.SignASN1(rand.Reader, s.key, d[:])
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(sig)
}

func (s *signer) headers(t *testing.T, body []byte) map[string]string {
	return map[string]string{"Github-Public-Key-Identifier": s.id, "Github-Public-Key-Signature": s.sign(t, body)}
}

func (s *signer) pem(t *testing.T) string {
	der, err := x509.MarshalPKIXPublicKey(&s.key.PublicKey)
	require.NoError(t, err)
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// keyServer publishes signing keys as GitHub does, on loopback, and counts
// the fetches.
type keyServer struct {
	t       *testing.T
	srv     *httptest.Server
	mu      sync.Mutex
	signers []*signer
	fetches atomic.Int64
	// stall, when set, holds every fetch after the first until closed.
	stall chan struct{}
}

func newKeyServer(t *testing.T, signers ...*signer) *keyServer {
	ks := &keyServer{t: t, signers: signers}
	ks.srv = serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n := ks.fetches.Add(1); n > 1 && ks.stall != nil {
			<-ks.stall
		}
		ks.mu.Lock()
		defer ks.mu.Unlock()
		type pub struct {
			KeyIdentifier string `json:"key_identifier"`
			Key           string `json:"key"`
			IsCurrent     bool   `json:"is_current"`
		}
		doc := struct {
			PublicKeys []pub `json:"public_keys"`
		}{}
		for i, s := range ks.signers {
			doc.PublicKeys = append(doc.PublicKeys, pub{s.id, s.pem(t), i == len(ks.signers)-1})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(doc)
	}))
	return ks
}

func (ks *keyServer) add(s *signer) {
	ks.mu.Lock()
	defer ks.mu.Unlock()
	ks.signers = append(ks.signers, s)
}

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// noSecrets checks that none of secrets appears in out.
func noSecrets(t *testing.T, out []byte, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if len(s) > 12 && strings.Contains(string(out), s[12:]) {
			t.Errorf("a key is echoed in %q", out)
		}
	}
}
