package apikey_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// A handler that refuses for a reason of its own calls GiveBack, and the
// key's rate limit and quota are as if the request never came, whether the
// middleware sees the route (a ServeMux) or not.
func TestGiveBack(t *testing.T) {
	t.Parallel()
	for _, visible := range []bool{true, false} {
		m, err := apikey.New(memstore.New(), apikey.WithKeyLimit(apikey.PerHour(3)))
		require.NoError(t, err)
		t.Cleanup(func() { m.Close() })
		_, secret, err := m.Create(context.Background(), apikey.CreateParams{Name: "k", Quota: &apikey.Quota{Limit: 3}})
		require.NoError(t, err)

		mux := http.NewServeMux()
		mux.HandleFunc("GET /mine", func(w http.ResponseWriter, r *http.Request) {})
		mux.HandleFunc("GET /theirs", func(w http.ResponseWriter, r *http.Request) {
			apikey.GiveBack(r.Context())
			http.Error(w, "not yours", http.StatusForbidden)
		})
		var next http.Handler = mux
		if !visible {
			next = http.HandlerFunc(mux.ServeHTTP) // another router: the middleware cannot see the route
		}
		srv := httptest.NewServer(m.Middleware()(next))
		t.Cleanup(srv.Close)
		get := func(path string) int {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
			req.Header.Set("Authorization", "Bearer "+secret)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			return resp.StatusCode
		}
		for range 5 {
			require.Equal(t, http.StatusForbidden, get("/theirs"))
		}
		for i := range 3 {
			require.Equal(t, http.StatusOK, get("/mine"), "visible=%v request %d", visible, i)
		}
		require.Equal(t, http.StatusTooManyRequests, get("/mine"))
	}
}

// GiveBack on a context the middleware did not make does nothing.
func TestGiveBackWithoutMiddleware(t *testing.T) {
	t.Parallel()
	apikey.GiveBack(context.Background())
}
