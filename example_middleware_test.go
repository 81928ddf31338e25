package apikey_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

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
