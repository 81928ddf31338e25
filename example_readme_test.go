package apikey_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/admin"
	"github.com/keyward/apikey/leak"
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

// The README's "Use" snippet; its variables (ctx, the presented key, the
// last page's last ID) are the parameters.
func readmeUse(ctx context.Context, presented, lastID string) error {
	m, err := apikey.New(memstore.New()) // or sqlitestore.Open("keys.db"), sqlstore.New(db, sqlstore.Postgres)
	if err != nil {
		return err
	}
	defer m.Close() // flushes usage counts

	// Create returns the record and the key. Show the key once: it is not stored anywhere.
	key, secret, err := m.Create(ctx, apikey.CreateParams{
		Name:      "CI pipeline",
		OwnerID:   "org_42",
		Scopes:    []string{"webhooks:read", "webhooks:write"},
		ExpiresAt: time.Now().Add(90 * 24 * time.Hour), // zero: never
	})
	if err != nil {
		return err
	}
	fmt.Println(secret)     // sk_live_Aa2nEIgUiFv7lx88td3L1vRJ1EyiRUlvCTkVFaHNVEo35olX7
	fmt.Println(key.Prefix) // sk_live_Aa2n: what a UI may show afterwards

	// Verify a presented key and the scopes the route needs.
	k, err := m.Verify(ctx, presented, "webhooks:write")
	switch {
	case err == nil: // k.ID, k.OwnerID, k.Scopes, k.Environment …
		fmt.Println("webhooks of", k.OwnerID)
	case errors.Is(err, apikey.ErrInvalidKey): // 401: malformed, unknown, revoked, expired, disabled
	case errors.Is(err, apikey.ErrInsufficientScope): // 403
	case errors.Is(err, apikey.ErrRateLimited): // 429
	default: // ErrStoreUnavailable: 503, fail closed
	}

	next, newSecret, err := m.Rotate(ctx, key.ID, time.Hour) // the old key works one more hour
	if err != nil {
		return err
	}
	fmt.Println(next.Prefix, newSecret)
	m.Disable(ctx, next.ID) // reversible: m.Enable(ctx, next.ID)
	m.Revoke(ctx, next.ID)  // immediate and irreversible
	m.List(ctx, apikey.ListOptions{OwnerID: "org_42", Limit: 50, After: lastID})
	return nil
}

// The README's "Key management" snippet.
func readmeKeyManagement(m *apikey.Manager, mux *http.ServeMux) error {
	h, err := admin.NewHandler(m) // callers: API keys with api_keys:manage, or admin.WithAuthorizer(yourSessions)
	if err != nil {
		return err
	}
	mux.Handle("/v1/", http.StripPrefix("/v1", h))
	return nil
}

// The README's "Admin page" snippet, with a session check of the host's.
func readmeAdminPage(m *apikey.Manager, mux *http.ServeMux) error {
	h, err := admin.NewHandler(m,
		admin.WithAuthorizer(mySessionCheck), // your login: who is this, which owner's keys may they manage
		admin.WithUI(admin.UIConfig{SessionCookie: "session", LoginURL: "/login"}))
	if err != nil {
		return err
	}
	mux.Handle("/settings/", http.StripPrefix("/settings", h)) // the page is /settings/ui/
	return nil
}

// The README's "Leaked keys" snippets: a key someone found, and the
// handlers that receive reports.
func readmeReportLeak(ctx context.Context, m *apikey.Manager, found, where string) (apikey.LeakResult, error) {
	return m.ReportLeak(ctx, apikey.LeakReport{Key: found, Source: "support", URL: where}) // revokes it
}

func readmeLeakHandlers(m *apikey.Manager, mux *http.ServeMux) error {
	gh, err := leak.GitHub(m) // options: leak.WithPublicKeysURL, leak.WithHTTPClient, leak.WithRefetchInterval
	if err != nil {
		return err
	}
	gl, err := leak.GitLab(m, os.Getenv("GITLAB_REVOCATION_TOKEN"), leak.WithTokenTypes("gitleaks_rule_id_acme_api_key"))
	if err != nil {
		return err
	}
	pub, err := leak.Public(m) // options: leak.WithThrottle(apikey.PerHour(60)), leak.WithClientAddr(f)
	if err != nil {
		return err
	}
	mux.Handle("POST /security/github-secret-scanning", gh)
	mux.Handle("/security/gitlab/", http.StripPrefix("/security/gitlab", gl))
	mux.Handle("POST /credentials/revoke", pub)
	return nil
}

func mySessionCheck(r *http.Request) (*admin.Principal, error) {
	if c, err := r.Cookie("session"); err != nil || c.Value != "alice" {
		return nil, errors.New("no session")
	}
	return &admin.Principal{ActorID: "alice", OwnerID: "org_42"}, nil
}

// The fragments run: Use end to end, and both mounts answer.
func TestREADMEFragments(t *testing.T) {
	t.Parallel()
	must(t, readmeUse(context.Background(), "sk_live_not_a_key", ""))
	m := newManager(t, memstore.New())
	mux := http.NewServeMux()
	must(t, readmeKeyManagement(m, mux))
	must(t, readmeAdminPage(m, mux))
	_, found, err := m.Create(context.Background(), apikey.CreateParams{Name: "leaked"})
	must(t, err)
	res, err := readmeReportLeak(context.Background(), m, found, "https://example.com/paste")
	must(t, err)
	if _, err := m.Verify(context.Background(), found); !res.Found || !errors.Is(err, apikey.ErrRevoked) {
		t.Errorf("reported key: found %v, verify %v", res.Found, err)
	}
	for path, want := range map[string]int{"/v1/api-keys": 401, "/settings/api-keys": 401} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != want {
			t.Errorf("GET %s: %d, want %d", path, w.Code, want)
		}
	}
}

// TestREADMESnippetsVerbatim: every Go block of the README is compiled by
// a test file, byte for byte: the blocks of the middleware and rate-limit
// sections are whole functions above; the others are the bodies of
// functions (one tab of indentation less, the wrapper's final return
// aside), here or in the tests of the module that can compile them.
func TestREADMESnippetsVerbatim(t *testing.T) {
	readme, err := os.ReadFile("README.md")
	must(t, err)
	src, err := os.ReadFile("example_readme_test.go")
	must(t, err)
	covered := map[string]bool{}
	for _, section := range []string{"## HTTP middleware", "## Rate limits and quotas"} {
		block := readmeGoBlock(t, string(readme), section)
		covered[block] = true
		if !strings.Contains(string(src), block) {
			t.Errorf("the Go block of %s is not in example_readme_test.go verbatim:\n%s", section, block)
		}
	}
	for _, c := range []struct{ section, file, fn string }{
		{"## Use", "example_readme_test.go", "readmeUse"},
		{"## Key management", "example_readme_test.go", "readmeKeyManagement"},
		{"## Many instances", "redis/example_readme_test.go", "readmeManyInstances"},
		{"### Without Redis: the store's change feed", "store/pgnotify/example_readme_test.go", "readmeChangeFeed"},
		{"## Stores", "store/sqlitestore/example_readme_test.go", "readmeStores"},
		{"## Admin page", "example_readme_test.go", "readmeAdminPage"},
		{"## Leaked keys", "example_readme_test.go", "readmeReportLeak"},
		{"## Leaked keys#2", "example_readme_test.go", "readmeLeakHandlers"},
	} {
		block := readmeGoBlock(t, string(readme), c.section)
		covered[block] = true
		src, err := os.ReadFile(c.file)
		must(t, err)
		if body := funcBody(t, string(src), c.fn); !strings.Contains(body, block) {
			t.Errorf("the Go block of %s is not the body of %s in %s verbatim:\n%s\nbody:\n%s", c.section, c.fn, c.file, block, body)
		}
	}
	// No Go block escapes: each is one of the above.
	rest := string(readme)
	for {
		_, after, ok := strings.Cut(rest, "```go\n")
		if !ok {
			break
		}
		block, _, _ := strings.Cut(after, "```")
		if !covered[block] {
			t.Errorf("a Go block of the README no test compiles:\n%s", block)
		}
		rest = after[len(block):]
	}
}

// readmeGoBlock is the first Go block after the heading section.
// A section written "## Name#2" names its second Go block.
func readmeGoBlock(t *testing.T, readme, section string) string {
	t.Helper()
	nth := 1
	if i := strings.LastIndexByte(section, '#'); i > 2 {
		fmt.Sscan(section[i+1:], &nth)
		section = section[:i]
	}
	_, rest, ok := strings.Cut(readme, section+"\n")
	if !ok {
		t.Fatalf("README has no %q", section)
	}
	if next := strings.Index(rest, "\n## "); next >= 0 {
		rest = rest[:next]
	}
	var block string
	for range nth {
		_, rest, ok = strings.Cut(rest, "```go\n")
		if !ok {
			t.Fatalf("%s has no Go block %d", section, nth)
		}
		block, _, _ = strings.Cut(rest, "```")
	}
	return block
}

// funcBody is the body of the top-level function name in src, each line
// with one tab of indentation less.
func funcBody(t *testing.T, src, name string) string {
	t.Helper()
	_, rest, ok := strings.Cut(src, "\nfunc "+name+"(")
	if ok {
		_, rest, ok = strings.Cut(rest, "{\n")
	}
	if ok {
		rest, _, ok = strings.Cut(rest, "\n}\n")
	}
	if !ok {
		t.Fatalf("no func %s", name)
	}
	lines := strings.Split(rest, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "\t")
	}
	return strings.Join(lines, "\n") + "\n"
}
