package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// The free plan lets 60 requests through, then answers 429; the endpoint
// test route stops at 10 per endpoint.
func TestPlansAndRouteLimits(t *testing.T) {
	m, err := apikey.New(memstore.New(), apikey.WithPlans(plans))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, secret, err := m.Create(context.Background(), apikey.CreateParams{Name: "k", Plan: "free"})
	if err != nil {
		t.Fatal(err)
	}
	_, team, err := m.Create(context.Background(), apikey.CreateParams{Name: "t", Plan: "team"})
	if err != nil {
		t.Fatal(err)
	}
	h, err := newAPI(m)
	if err != nil {
		t.Fatal(err)
	}
	post := func(key, path string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, path, nil)
		r.Header.Set("X-API-Key", key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	for i := range 60 {
		if w := post(secret, "/webhooks/jobs"); w.Code != 200 {
			t.Fatalf("request %d: %d", i+1, w.Code)
		}
	}
	if w := post(secret, "/webhooks/jobs"); w.Code != http.StatusTooManyRequests || w.Header().Get("Retry-After") != "1" {
		t.Fatalf("61st request: %d, Retry-After %q; want 429 after one second", w.Code, w.Header().Get("Retry-After"))
	}
	for i := range 10 {
		if w := post(team, "/endpoints/ep_1/test"); w.Code != 200 {
			t.Fatalf("endpoint test %d: %d", i+1, w.Code)
		}
	}
	for i := range 20 {
		if w := post(team, "/endpoints/ep_1/test"); w.Code != http.StatusTooManyRequests {
			t.Fatalf("endpoint test %d: %d, want 429", 11+i, w.Code)
		}
	}
	// The route's 429s took nothing from the key's plan: 300 - 10.
	if w := post(team, "/webhooks/jobs"); w.Header().Get("X-RateLimit-Remaining") != "289" {
		t.Fatalf("after the route's refusals: X-RateLimit-Remaining %q, want 289", w.Header().Get("X-RateLimit-Remaining"))
	}
}

// The loop the program prints does what it says: run as printed, it shows
// X-RateLimit-Remaining falling from 59 to 0, then a 429 with Retry-After.
func TestPrintedLoopShowsRemainingFallThen429(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash: cannot run the printed loop")
	}
	if out, err := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%header{x}", "file:///dev/null").CombinedOutput(); err != nil || strings.Contains(string(out), "header") {
		t.Skipf("no curl 7.84 or later (%%header): cannot run the printed loop (%v, %q)", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- run(ctx, "127.0.0.1:0", pw); pw.Close() }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	})
	lines := bufio.NewScanner(pr)
	var loop string
	for loop == "" && lines.Scan() {
		if l := strings.TrimSpace(lines.Text()); strings.HasPrefix(l, "for i in") {
			loop = l
		}
	}
	if loop == "" {
		t.Fatal("the program printed no loop")
	}
	go io.Copy(io.Discard, pr)

	out, err := exec.Command(bash, "-c", loop).Output()
	if err != nil {
		t.Fatalf("the printed loop: %v", err)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	if got[0] != "200 X-RateLimit-Remaining: 59 Retry-After: " {
		t.Errorf("first answer %q, want 200 with 59 remaining", got[0])
	}
	last := got[len(got)-1]
	if !strings.HasPrefix(last, "429 X-RateLimit-Remaining: 0 Retry-After: ") || strings.HasSuffix(last, ": ") {
		t.Errorf("last answer %q, want a 429 with Retry-After", last)
	}
	if !slices.Contains(got, "200 X-RateLimit-Remaining: 0 Retry-After: ") {
		t.Errorf("no 200 with 0 remaining before the 429:\n%s", out)
	}
	prev := 60
	for _, l := range got[:len(got)-1] {
		var n int
		if _, err := fmt.Sscanf(l, "200 X-RateLimit-Remaining: %d", &n); err != nil || n > prev {
			t.Fatalf("answer %q after remaining %d: want a 200 with remaining not rising\n%s", l, prev, out)
		}
		prev = n
	}
}
