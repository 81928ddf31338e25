package main

import (
	"context"
	"net/http"
	"net/http/httptest"
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
