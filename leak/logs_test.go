package leak_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/leak"
)

// syncBuffer is a bytes.Buffer safe for the handlers' goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Reported keys reach no log line: not the audit events (the URL holds
// the key too), not the handlers' failure logs.
func TestReportedKeysAreNotLogged(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	f := newFixture(t)
	m, err := apikey.New(f.store, apikey.WithLogger(logger), apikey.WithCache(time.Minute))
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	f.m = m

	gh := newSigner(t)
	ghh, err := leak.GitHub(m, leak.WithLogger(logger), leak.WithPublicKeysURL(newKeyServer(t, gh).srv.URL))
	require.NoError(t, err)
	pub, err := leak.Public(m, leak.WithLogger(logger))
	require.NoError(t, err)
	ghURL, pubURL := serve(t, ghh).URL, serve(t, pub).URL

	live, old, unknown := f.key(), f.revoked(), unknownKeys(t, 1)[0]
	ms := matches(live, old, unknown)
	for i := range ms {
		ms[i].URL = "https://github.com/o/r/blob/x/" + ms[i].Token + "?k=" + ms[i].Token
		ms[i].Source = "commit " + ms[i].Token
	}
	body := mustJSON(t, ms)
	f.store.fail.Store(true) // the failure path logs too
	status, _, _ := post(t, ghURL, body, gh.headers(t, body))
	assert.Equal(t, http.StatusServiceUnavailable, status)
	status, _, _ = post(t, pubURL, credentials(t, live), nil)
	assert.Equal(t, http.StatusServiceUnavailable, status)
	f.store.fail.Store(false)
	status, _, _ = post(t, ghURL, body, gh.headers(t, body))
	assert.Equal(t, http.StatusOK, status)

	out := logs.String()
	assert.Contains(t, out, "authn_token_leaked", "the audit event is logged")
	assert.Contains(t, out, "leak: reporting leaked keys failed")
	noSecrets(t, []byte(out), live, old, unknown)
}
