package apikey_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// What the route-aware decision costs (issue 15): the middleware in front
// of a ServeMux ("mux": it looks the route up first) against the same mux
// hidden behind a HandlerFunc ("hidden": no lookup, the gates decide
// alone, as behind chi), and the mux alone. Run them together:
//
//	go test -run '^$' -bench 'Routes' -benchmem -count 8 .
func BenchmarkRoutes(b *testing.B) {
	m, err := apikey.New(memstore.New(), apikey.WithKeyLimit(apikey.PerSecond(1_000_000_000)))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Close() })
	_, key, err := m.Create(context.Background(), apikey.CreateParams{Name: "bench", Scopes: []string{"webhooks:read"}})
	if err != nil {
		b.Fatal(err)
	}
	empty := http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})
	mux := http.NewServeMux()
	for _, p := range []string{"GET /v1/webhooks", "POST /v1/webhooks", "GET /v1/webhooks/{id}", "DELETE /v1/webhooks/{id}",
		"GET /v1/events", "GET /v1/events/{id}", "POST /v1/endpoints/{id}/test", "GET /v1/account"} {
		mux.Handle(p, empty)
	}
	mux.Handle("GET /v1/jobs", apikey.RequireScopes("webhooks:read")(apikey.LimitRoute("jobs", apikey.PerSecond(1_000_000_000), nil)(empty)))
	mux.Handle("GET /v1/endpoints/{id}", apikey.RequireScopes("webhooks:read")(empty))

	for _, route := range []struct{ name, path string }{
		{"plain", "/v1/webhooks"},
		{"gated", "/v1/jobs"},
		{"wildcard-gated", "/v1/endpoints/ep_1"},
	} {
		r := httptest.NewRequest(http.MethodGet, route.path, nil)
		r.Header.Set("Authorization", "Bearer "+key)
		b.Run(route.name+"/mux-alone", func(b *testing.B) {
			if route.name != "plain" {
				b.Skip("the gates refuse without the middleware")
			}
			serveBench(b, mux, r)
		})
		b.Run(route.name+"/hidden", func(b *testing.B) { serveBench(b, m.Middleware()(http.HandlerFunc(mux.ServeHTTP)), r) })
		b.Run(route.name+"/mux", func(b *testing.B) { serveBench(b, m.Middleware()(mux), r) })
	}
}
