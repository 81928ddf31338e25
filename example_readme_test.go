package apikey_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// The README's snippets of "HTTP middleware" and "Rate limits and quotas",
// verbatim (TestREADMESnippetsVerbatim checks it), and Examples that run
// them.

func newAPI(m *apikey.Manager) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /health", apikey.Public(http.HandlerFunc(health)))               // no key needed
	mux.Handle("GET /webhooks", apikey.RequireScopes("webhooks:read")(listWebhooks)) // needs a scope
	mux.Handle("POST /webhooks", apikey.RequireScopes("webhooks:write")(createWebhook))
	return m.Middleware()(mux) // one line protects all
}

func newLimitedAPI(ctx context.Context, store apikey.Store, plans map[string]string, h http.Handler) (*apikey.Manager, http.Handler, error) {
	m, err := apikey.New(store,
		apikey.WithKeyLimit(apikey.PerMinute(600)), // every key, unless it has its own
		apikey.WithPlans(map[string]apikey.Limit{"free": apikey.PerMinute(60), "team": apikey.PerMinute(300)}),
		apikey.WithOwnerPlan(func(org string) string { return plans[org] }), // shared by all of an org's keys
	)
	if err != nil {
		return nil, nil, err
	}
	m.Create(ctx, apikey.CreateParams{Name: "ci", Plan: "free"})                       // a plan
	m.Create(ctx, apikey.CreateParams{Name: "bulk", RateLimit: apikey.PerSecond(100)}) // its own limit
	m.Create(ctx, apikey.CreateParams{Name: "metered",
		Quota: &apikey.Quota{Limit: 10_000, Refill: apikey.RefillMonthly}}) // a usage budget

	mux := http.NewServeMux()
	mux.Handle("POST /endpoints/{id}/test",
		apikey.LimitRoute("endpoint_tests", apikey.PerMinute(10), apikey.PerPathValue("id"))(h))
	return m, m.Middleware()(mux), nil
}

// The handlers the snippets name.
func health(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") }

var (
	listWebhooks = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		k, _ := apikey.FromContext(r.Context())
		io.WriteString(w, "webhooks of "+k.Name)
	})
	createWebhook = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusCreated) })
)

// The README's first snippet over a real socket: /health answers without a
// key, every other route needs one.
func Example_readmeMiddleware() {
	m, err := apikey.New(memstore.New())
	if err != nil {
		panic(err)
	}
	defer m.Close()
	_, key, err := m.Create(context.Background(), apikey.CreateParams{Name: "CI", Scopes: []string{"webhooks:read"}})
	if err != nil {
		panic(err)
	}
	srv := httptest.NewServer(newAPI(m))
	defer srv.Close()

	for _, req := range []struct{ method, path, key string }{
		{"GET", "/health", ""},
		{"GET", "/webhooks", ""},
		{"GET", "/webhooks", key},
		{"POST", "/webhooks", key},
	} {
		r, _ := http.NewRequest(req.method, srv.URL+req.path, nil)
		if req.key != "" {
			r.Header.Set("Authorization", "Bearer "+req.key)
		}
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			panic(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		fmt.Println(req.method, req.path, res.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// GET /health 200 ok
	// GET /webhooks 401 {"error":{"code":"unauthorized","message":"Invalid or missing API key"}}
	// GET /webhooks 200 webhooks of CI
	// POST /webhooks 403 {"error":{"code":"forbidden","message":"API key does not have access to this resource"}}
}

// The README's rate-limit snippet: ten tests of one endpoint a minute.
func Example_readmeRateLimits() {
	ctx := context.Background()
	store := memstore.New()
	m, api, err := newLimitedAPI(ctx, store, map[string]string{"org_42": "team"}, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	if err != nil {
		panic(err)
	}
	defer m.Close()
	_, key, err := m.Create(ctx, apikey.CreateParams{Name: "tester", OwnerID: "org_42"})
	if err != nil {
		panic(err)
	}
	codes := map[int]int{}
	for range 11 {
		r := httptest.NewRequest(http.MethodPost, "/endpoints/ep_1/test", nil)
		r.Header.Set("X-API-Key", key)
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		codes[w.Code]++
	}
	fmt.Println(codes)
	// Output:
	// map[200:10 429:1]
}

// TestREADMESnippetsVerbatim: the Go blocks of the README's middleware and
// rate-limit sections are the functions above, byte for byte.
func TestREADMESnippetsVerbatim(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	must(t, err)
	src, err := os.ReadFile("example_readme_test.go")
	must(t, err)
	for _, section := range []string{"## HTTP middleware", "## Rate limits and quotas"} {
		_, rest, ok := strings.Cut(string(readme), section+"\n")
		if !ok {
			t.Fatalf("README has no %q", section)
		}
		_, block, ok := strings.Cut(rest, "```go\n")
		if !ok {
			t.Fatalf("%s has no Go block", section)
		}
		block, _, _ = strings.Cut(block, "```")
		if !strings.Contains(string(src), block) {
			t.Errorf("the Go block of %s is not in example_readme_test.go verbatim:\n%s", section, block)
		}
	}
}
