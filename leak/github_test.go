package leak_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
	"github.com/keyward/apikey/leak"
)

func githubHandler(t *testing.T, f *fixture, ks *keyServer, opts ...leak.Option) string {
	t.Helper()
	h, err := leak.GitHub(f.m, append([]leak.Option{leak.WithPublicKeysURL(ks.srv.URL), leak.WithHTTPClient(ks.srv.Client())}, opts...)...)
	require.NoError(t, err)
	return serve(t, h).URL
}

func matches(tokens ...string) []leak.GitHubMatch {
	ms := make([]leak.GitHubMatch, len(tokens))
	for i, tok := range tokens {
		ms[i] = leak.GitHubMatch{Token: tok, Type: "acme_api_key", URL: "https://github.com/o/r/blob/abc/.env", Source: "commit"}
	}
	return ms
}

func tokenHash(tok string) string {
	sum := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(sum[:])
}

// A signed report: live keys are revoked and answer 401 at once through
// the middleware; the feedback labels keys of the store (revoked ones
// included) true positives, the rest false positives; a replay is
// idempotent; the keys are fetched once.
func TestGitHubReport(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gh := newSigner(t)
	ks := newKeyServer(t, newSigner(t), gh)
	url := githubHandler(t, f, ks)

	live, old, unknown := f.key(), f.revoked(), unknownKeys(t, 1)[0]
	body := mustJSON(t, matches(live, old, unknown, "sk_live_garbage", live))
	for range 2 { // the second is a replay
		status, out, hdr := post(t, url, body, gh.headers(t, body))
		require.Equal(t, http.StatusOK, status, "%s", out)
		assert.Equal(t, "application/json", hdr.Get("Content-Type"))
		var fb []leak.GitHubFeedback
		require.NoError(t, json.Unmarshal(out, &fb))
		want := []leak.GitHubFeedback{
			{tokenHash(live), "acme_api_key", leak.LabelTruePositive},
			{tokenHash(old), "acme_api_key", leak.LabelTruePositive},
			{tokenHash(unknown), "acme_api_key", leak.LabelFalsePositive},
			{tokenHash("sk_live_garbage"), "acme_api_key", leak.LabelFalsePositive},
			{tokenHash(live), "acme_api_key", leak.LabelTruePositive},
		}
		assert.Equal(t, want, fb)
		noSecrets(t, out, live, old, unknown)
		assert.Equal(t, http.StatusUnauthorized, f.status(live), "revoked at once, though cached")
	}
	assert.Equal(t, int64(1), ks.fetches.Load(), "the keys are cached")

	evs, err := f.m.ListAudit(context.Background(), audit.Query{Action: audit.KeyLeaked})
	require.NoError(t, err)
	require.Len(t, evs, 2, "the revocation of live, and old reported; replays within the minute are counted, not logged")
	assert.Equal(t, "github:commit", evs[0].Details["source"])
	assert.Equal(t, "https://github.com/o/r/blob/abc/.env", evs[0].Details["url"])
	assert.Equal(t, "leak/github", evs[0].ActorID)
}

// Requests that are not GitHub's get 401 (or 405, 413) and act on nothing.
func TestGitHubRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gh, forger := newSigner(t), newSigner(t)
	ks := newKeyServer(t, gh)
	url := githubHandler(t, f, ks, leak.WithMaxBodyBytes(64<<10))
	live := f.key()
	body := mustJSON(t, matches(live))
	reindented, err := json.MarshalIndent(matches(live), "", "  ")
	require.NoError(t, err)
	huge := mustJSON(t, matches(strings.Repeat("x", 70<<10)))

	for _, tc := range []struct {
		name    string
		body    []byte
		headers map[string]string
		want    int
	}{
		{"no headers", body, nil, http.StatusUnauthorized},
		{"no signature", body, map[string]string{"Github-Public-Key-Identifier": gh.id}, http.StatusUnauthorized},
		{"signature not base64", body, map[string]string{"Github-Public-Key-Identifier": gh.id, "Github-Public-Key-Signature": "!!"}, http.StatusUnauthorized},
		{"forged signature", body, map[string]string{"Github-Public-Key-Identifier": gh.id, "Github-Public-Key-Signature": forger.sign(t, body)}, http.StatusUnauthorized},
		{"re-serialised body", reindented, gh.headers(t, body), http.StatusUnauthorized},
		{"trailing newline added", append(bytes.Clone(body), '\n'), gh.headers(t, body), http.StatusUnauthorized},
		{"unknown key identifier", body, forger.headers(t, body), http.StatusUnauthorized},
		{"identifier too long", body, map[string]string{"Github-Public-Key-Identifier": strings.Repeat("a", 300), "Github-Public-Key-Signature": gh.sign(t, body)}, http.StatusUnauthorized},
		{"hostile size, signed", huge, gh.headers(t, huge), http.StatusRequestEntityTooLarge},
		{"signed, not the expected JSON", []byte(`{"token":"x"}`), gh.headers(t, []byte(`{"token":"x"}`)), http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out, _ := post(t, url, tc.body, tc.headers)
			assert.Equal(t, tc.want, status, "%s", out)
			noSecrets(t, out, live)
		})
	}
	assert.Equal(t, http.StatusOK, f.status(live), "no action on any of them")

	resp, err := http.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)
	assert.Equal(t, "POST", resp.Header.Get("Allow"))

	// A body of hostile size without Content-Length (chunked) is cut off
	// at the limit too.
	req, err := http.NewRequest(http.MethodPost, url, struct{ *strings.Reader }{strings.NewReader(string(huge))})
	require.NoError(t, err)
	for k, v := range gh.headers(t, huge) {
		req.Header.Set(k, v)
	}
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode)
}

// An unknown identifier makes the handler fetch the keys again (GitHub
// rotated them), but at most once per interval: made-up identifiers
// cannot make it hammer the key server.
func TestGitHubKeyRotationBounded(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first, next := newSigner(t), newSigner(t)
	ks := newKeyServer(t, first)
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	url := githubHandler(t, f, ks, leak.WithClock(clk.Now), leak.WithRefetchInterval(time.Minute))
	body := mustJSON(t, matches(unknownKeys(t, 1)...))

	status, _, _ := post(t, url, body, first.headers(t, body))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, int64(1), ks.fetches.Load())

	ks.add(next) // GitHub rotates; the cache has not seen it yet
	status, _, _ = post(t, url, body, next.headers(t, body))
	assert.Equal(t, http.StatusUnauthorized, status, "within the interval of the last fetch: no re-fetch")
	assert.Equal(t, int64(1), ks.fetches.Load())

	clk.Add(time.Minute)
	for range 5 {
		status, _, _ = post(t, url, body, newSigner(t).headers(t, body)) // made-up identifiers
		assert.Equal(t, http.StatusUnauthorized, status)
	}
	assert.Equal(t, int64(2), ks.fetches.Load(), "one re-fetch for five unknown identifiers")
	status, _, _ = post(t, url, body, next.headers(t, body))
	assert.Equal(t, http.StatusOK, status, "the re-fetch found the new key")
	assert.Equal(t, int64(2), ks.fetches.Load())

	clk.Add(time.Minute)
	status, _, _ = post(t, url, body, newSigner(t).headers(t, body))
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, int64(3), ks.fetches.Load(), "another interval, another fetch")
}

// A batch of 1,000 matches, every live key among them revoked.
func TestGitHubBatchOf1000(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gh := newSigner(t)
	url := githubHandler(t, f, newKeyServer(t, gh))
	var live []string
	for range 20 {
		live = append(live, f.key())
	}
	tokens := append(unknownKeys(t, 980), live...)
	body := mustJSON(t, matches(tokens...))
	status, out, _ := post(t, url, body, gh.headers(t, body))
	require.Equal(t, http.StatusOK, status, "%s", out)
	var fb []leak.GitHubFeedback
	require.NoError(t, json.Unmarshal(out, &fb))
	require.Len(t, fb, 1000)
	positives := 0
	for _, e := range fb {
		if e.Label == leak.LabelTruePositive {
			positives++
		}
	}
	assert.Equal(t, 20, positives)
	for _, k := range live {
		assert.Equal(t, http.StatusUnauthorized, f.status(k))
	}
}

// The key server down, or the store down: 503, so GitHub sends again.
func TestGitHubUnavailable(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gh := newSigner(t)
	ks := newKeyServer(t, gh)
	url := githubHandler(t, f, ks)
	live := f.key()
	body := mustJSON(t, matches(live))

	f.store.fail.Store(true)
	status, out, _ := post(t, url, body, gh.headers(t, body))
	assert.Equal(t, http.StatusServiceUnavailable, status, "%s", out)
	f.store.fail.Store(false)

	down := newKeyServer(t, gh)
	down.srv.Close()
	h, err := leak.GitHub(f.m, leak.WithPublicKeysURL(down.srv.URL))
	require.NoError(t, err)
	downURL := serve(t, h).URL
	for range 2 { // the second within the interval: no fetch, still 503 (not 401)
		status, _, _ = post(t, downURL, body, gh.headers(t, body))
		assert.Equal(t, http.StatusServiceUnavailable, status)
	}
	assert.Equal(t, http.StatusOK, f.status(live), "nothing done yet")

	status, _, _ = post(t, url, body, gh.headers(t, body))
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, http.StatusUnauthorized, f.status(live))
}

func TestGitHubOptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	for _, opts := range [][]leak.Option{
		{leak.WithPolicy("delete")}, {leak.WithMaxBodyBytes(0)}, {leak.WithHTTPClient(nil)}, {leak.WithRefetchInterval(0)},
	} {
		_, err := leak.GitHub(f.m, opts...)
		assert.ErrorIs(t, err, apikey.ErrInvalidParams)
	}
	_, err := leak.GitHub(nil)
	assert.ErrorIs(t, err, apikey.ErrInvalidParams)

	// Policy: disable instead of revoke.
	gh := newSigner(t)
	url := githubHandler(t, f, newKeyServer(t, gh), leak.WithPolicy(apikey.LeakDisable))
	live := f.key()
	body := mustJSON(t, matches(live))
	status, _, _ := post(t, url, body, gh.headers(t, body))
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, http.StatusUnauthorized, f.status(live))
	k, err := f.m.Lookup(context.Background(), live)
	require.NoError(t, err)
	assert.True(t, k.Disabled)
	assert.True(t, k.RevokedAt.IsZero())
}

// A fetch of the keys (a slow key server) holds up only the requests that
// wait for it: requests signed with a known key go through meanwhile.
func TestGitHubSlowKeyServer(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gh := newSigner(t)
	ks := newKeyServer(t, gh)
	ks.stall = make(chan struct{})
	clk := &clock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	url := githubHandler(t, f, ks, leak.WithClock(clk.Now))
	body := mustJSON(t, matches(unknownKeys(t, 1)...))
	status, _, _ := post(t, url, body, gh.headers(t, body))
	require.Equal(t, http.StatusOK, status)

	clk.Add(time.Minute)
	done := make(chan int)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
		for k, v := range newSigner(t).headers(t, body) {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	require.Eventually(t, func() bool { return ks.fetches.Load() == 2 }, 5*time.Second, time.Millisecond)
	status, _, _ = post(t, url, body, gh.headers(t, body))
	assert.Equal(t, http.StatusOK, status, "not held by the stalled fetch")
	close(ks.stall)
	assert.Equal(t, http.StatusUnauthorized, <-done)
}
