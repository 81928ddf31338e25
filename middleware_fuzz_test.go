package apikey_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/keyward/apikey"
)

// FuzzMiddleware: whatever the two credential headers hold, the answer is
// one the middleware knows (inputs are independent of each other), no response byte and no log line contains what
// was presented, and nothing panics.
func FuzzMiddleware(f *testing.F) {
	m, _, ks := newFixture(f)
	logs := &captureHandler{}

	// Each input gets a middleware of its own: the failure throttle counts
	// per middleware, and its 429 must not carry one input's failures into
	// the next.
	serve := func(authorization, xAPIKey string) *httptest.ResponseRecorder {
		h := m.Middleware(apikey.RequiredScopes("webhooks:read"), apikey.LogFailures(slog.New(logs)))(okHandler)
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if authorization != "" {
			r.Header.Set("Authorization", authorization)
		}
		if xAPIKey != "" {
			r.Header.Set("X-API-Key", xAPIKey)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	// Every answer there is, and the log lines they write: text that may
	// appear whatever was presented.
	var known strings.Builder
	for _, seed := range [][2]string{
		{"Bearer " + ks.reader, ""},
		{"", ks.reader},
		{"", ""},
		{"Basic dXNlcjpwYXNz", ""},
		{"Bearer " + ks.revoked, ""},
		{"", ks.writer},
		{"bearer   " + ks.expired, ""},
		{"Bearer eyJhbGciOiJIUzI1NiJ9.e30.sig", ""},
		{"Bearer " + ks.reader, ks.reader},
		{"", ks.reader[:30] + "\x00" + ks.reader[31:]},
		{"", ks.testEnv},
		{"Bearer " + ks.unknown, ""},
		{"Bearer", ""},
		{"Bearer sk_live_" + strings.Repeat("é", 100), ""},
		{"", strings.Repeat("sk_", 200)},
	} {
		f.Add(seed[0], seed[1])
		known.WriteString(dump(serve(seed[0], seed[1])))
	}
	known.WriteString(logs.String())
	vocabulary := known.String()
	answers := map[string]bool{}
	for _, a := range strings.Split(vocabulary, "\x00") {
		answers[a] = true
	}

	f.Fuzz(func(t *testing.T, authorization, xAPIKey string) {
		logs.reset()
		w := serve(authorization, xAPIKey)
		switch w.Code {
		case 200, 400, 401, 403, 429, 503:
		default:
			t.Fatalf("status %d", w.Code)
		}
		out := dump(w)
		if !answers[strings.TrimSuffix(out, "\x00")] {
			t.Errorf("an answer that is not one of the known ones:\n%s", out)
		}
		logged := logs.String()
		token, _ := strings.CutPrefix(strings.TrimLeft(authorization, " "), "Bearer ")
		for _, presented := range []string{authorization, strings.TrimLeft(token, " "), xAPIKey} {
			// Short values, and values that are pieces of fixed text,
			// appear in answers whatever was presented.
			if len(presented) < 8 || strings.Contains(vocabulary, presented) {
				continue
			}
			if strings.Contains(out, presented) {
				t.Errorf("response contains the presented credential %q", presented)
			}
			if strings.Contains(logged, presented) {
				t.Errorf("logs contain the presented credential %q", presented)
			}
		}
	})
}

// dump is a recorded response as text: status, headers in order, body.
func dump(w *httptest.ResponseRecorder) string {
	res := w.Result()
	var b strings.Builder
	b.WriteString(res.Status + "\n")
	res.Header.Write(&b)
	b.WriteString(w.Body.String() + "\x00")
	return b.String()
}
