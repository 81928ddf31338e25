package jsonerr

import (
	"net/http/httptest"
	"testing"
	"time"
)

// A 429's message says when to retry in good English: "1 second", "N
// seconds", as the middleware's refusals and the admin API write it.
func TestRetryAfterMessage(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		retry time.Duration
		want  string
	}{
		{0, `{"error":{"code":"rate_limit_exceeded","message":"Rate limit exceeded"}}`},
		{time.Millisecond, `{"error":{"code":"rate_limit_exceeded","message":"Rate limit exceeded. Retry after 1 second.","retry_after":1}}`},
		{time.Second, `{"error":{"code":"rate_limit_exceeded","message":"Rate limit exceeded. Retry after 1 second.","retry_after":1}}`},
		{1001 * time.Millisecond, `{"error":{"code":"rate_limit_exceeded","message":"Rate limit exceeded. Retry after 2 seconds.","retry_after":2}}`},
		{time.Minute, `{"error":{"code":"rate_limit_exceeded","message":"Rate limit exceeded. Retry after 60 seconds.","retry_after":60}}`},
	} {
		w := httptest.NewRecorder()
		Write(w, 429, "rate_limit_exceeded", "Rate limit exceeded", tc.retry)
		if got := w.Body.String(); got != tc.want {
			t.Errorf("RetryAfter %v: %s, want %s", tc.retry, got, tc.want)
		}
		if h := w.Header(); h.Get("Cache-Control") != "no-store" || h.Get("Content-Type") != "application/json" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("RetryAfter %v: headers %v", tc.retry, h)
		}
	}
}
