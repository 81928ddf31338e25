package apikey_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

func ExampleManager_Middleware() {
	m, err := apikey.New(memstore.New())
	if err != nil {
		panic(err)
	}
	defer m.Close()
	_, key, err := m.Create(context.Background(), apikey.CreateParams{Name: "CI", Scopes: []string{"webhooks:read"}})
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /webhooks", func(w http.ResponseWriter, r *http.Request) {
		k, _ := apikey.FromContext(r.Context())
		fmt.Fprintf(w, "webhooks for key %q", k.Name)
	})
	mux.Handle("POST /webhooks", apikey.RequireScopes("webhooks:write")(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})))
	api := m.Middleware()(mux)

	for _, req := range []struct{ method, auth string }{
		{http.MethodGet, "Bearer " + key},
		{http.MethodGet, ""},
		{http.MethodPost, "Bearer " + key},
	} {
		r := httptest.NewRequest(req.method, "/webhooks", nil)
		if req.auth != "" {
			r.Header.Set("Authorization", req.auth)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		fmt.Println(req.method, w.Code, w.Header()["Www-Authenticate"])
	}
	// Output:
	// GET 200 []
	// GET 401 [Bearer realm="api"]
	// POST 403 [Bearer realm="api", error="insufficient_scope", scope="webhooks:write"]
}

// Public routes of a ServeMux need no key under the one middleware that
// wraps the mux; a route's scope and limit gates are decided with the
// key's own limits, once.
func ExamplePublic() {
	m, err := apikey.New(memstore.New(), apikey.WithKeyLimit(apikey.PerHour(2)))
	if err != nil {
		panic(err)
	}
	defer m.Close()
	_, key, err := m.Create(context.Background(), apikey.CreateParams{Name: "CI", Scopes: []string{"webhooks:read"}})
	if err != nil {
		panic(err)
	}
	ok := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	mux := http.NewServeMux()
	mux.Handle("GET /health", apikey.Public(ok))
	mux.Handle("GET /webhooks", apikey.RequireScopes("webhooks:read")(ok))
	mux.Handle("DELETE /webhooks", apikey.RequireScopes("webhooks:write")(ok))
	api := m.Middleware()(mux)

	for _, req := range []struct{ method, path, key string }{
		{http.MethodGet, "/health", ""},
		{http.MethodDelete, "/webhooks", key}, // 403: takes nothing from the key's 2 an hour
		{http.MethodDelete, "/webhooks", key},
		{http.MethodGet, "/webhooks", key},
		{http.MethodGet, "/webhooks", key},
		{http.MethodGet, "/webhooks", key},
	} {
		r := httptest.NewRequest(req.method, req.path, nil)
		if req.key != "" {
			r.Header.Set("X-API-Key", req.key)
		}
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		fmt.Println(strings.TrimSpace(fmt.Sprintln(req.method, req.path, w.Code, w.Header().Get("X-RateLimit-Remaining"))))
	}
	// Output:
	// GET /health 200
	// DELETE /webhooks 403
	// DELETE /webhooks 403
	// GET /webhooks 200 1
	// GET /webhooks 200 0
	// GET /webhooks 429 0
}
