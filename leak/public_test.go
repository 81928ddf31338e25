package leak_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/leak"
)

// The test names its clients with a header; a service behind a proxy
// would read the proxy's.
func testClient(r *http.Request) string { return r.Header.Get("X-Test-Client") }

func publicServer(t *testing.T, f *fixture, opts ...leak.Option) string {
	t.Helper()
	h, err := leak.Public(f.m, append([]leak.Option{leak.WithClientAddr(testClient)}, opts...)...)
	require.NoError(t, err)
	return serve(t, h).URL
}

func credentials(t *testing.T, keys ...string) []byte {
	return mustJSON(t, leak.PublicRequest{Credentials: keys})
}

func TestPublicRevoke(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	url := publicServer(t, f)
	client := map[string]string{"X-Test-Client": "203.0.113.7"}
	live, old := f.key(), f.revoked()
	unknown := unknownKeys(t, 1)[0]

	// Live, revoked, unknown, garbage: the same answer.
	var answers []string
	for _, k := range []string{live, live, old, unknown, "sk_live_nope"} {
		status, out, _ := post(t, url, credentials(t, k), client)
		assert.Equal(t, http.StatusAccepted, status)
		answers = append(answers, string(out))
		noSecrets(t, out, live, old, unknown)
	}
	for _, a := range answers {
		assert.Equal(t, answers[0], a, "indistinguishable")
	}
	assert.Equal(t, http.StatusUnauthorized, f.status(live), "revoked at once")

	// 1,000 is the most.
	var lives []string
	for range 10 {
		lives = append(lives, f.key())
	}
	batch := append(unknownKeys(t, 990), lives...)
	status, _, _ := post(t, url, credentials(t, batch...), client)
	assert.Equal(t, http.StatusAccepted, status)
	for _, k := range lives {
		assert.Equal(t, http.StatusUnauthorized, f.status(k))
	}
	extra := f.key()
	status, _, _ = post(t, url, credentials(t, append(batch, extra)...), client)
	assert.Equal(t, http.StatusUnprocessableEntity, status, "1,001")
	assert.Equal(t, http.StatusOK, f.status(extra), "and nothing done")

	for _, body := range []string{`{}`, `{"credentials":[]}`, `[]`, `{"credentials":"sk"}`, `not json`} {
		status, _, _ = post(t, url, []byte(body), client)
		assert.Equal(t, http.StatusUnprocessableEntity, status, body)
	}
	status, _, _ = post(t, url, credentials(t, strings.Repeat("k", 2<<20)), client)
	assert.Equal(t, http.StatusRequestEntityTooLarge, status)
	resp, err := http.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
}

// Each client address has its own budget; a client over it gets 429 with
// Retry-After, and its request is not read.
func TestPublicThrottle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	url := publicServer(t, f, leak.WithThrottle(apikey.PerHour(2)))
	a := map[string]string{"X-Test-Client": "198.51.100.1"}
	b := map[string]string{"X-Test-Client": "198.51.100.2"}
	for range 2 {
		status, _, _ := post(t, url, credentials(t, "sk_live_x"), a)
		assert.Equal(t, http.StatusAccepted, status)
	}
	live := f.key()
	status, out, hdr := post(t, url, credentials(t, live), a)
	assert.Equal(t, http.StatusTooManyRequests, status, "%s", out)
	assert.NotEmpty(t, hdr.Get("Retry-After"))
	assert.Equal(t, http.StatusOK, f.status(live), "a throttled request does nothing")
	status, _, _ = post(t, url, credentials(t, live), b)
	assert.Equal(t, http.StatusAccepted, status, "another client")
	assert.Equal(t, http.StatusUnauthorized, f.status(live))
}

func TestPeerAddr(t *testing.T) {
	t.Parallel()
	for addr, want := range map[string]string{
		"192.0.2.1:4321":             "192.0.2.1",
		"[::ffff:192.0.2.1]:80":      "192.0.2.1",
		"[2001:db8:1:2:3:4:5:6]:443": "2001:db8:1:2::/64",
		"pipe":                       "pipe",
	} {
		r := &http.Request{RemoteAddr: addr}
		assert.Equal(t, want, leak.PeerAddr(r), addr)
	}
}
