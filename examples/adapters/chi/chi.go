// Package chi shows the middleware in a chi router. chi takes net/http
// middleware as it is: no adapter needed.
package chi

import (
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/keyward/apikey"
)

// NewRouter returns a public /health and API-key-protected webhook routes.
func NewRouter(m *apikey.Manager) http.Handler {
	r := chi.NewRouter()
	r.Get("/health", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok")) })
	r.Group(func(r chi.Router) {
		r.Use(m.Middleware())
		r.With(apikey.RequireScopes("webhooks:read")).Get("/webhooks", listWebhooks)
		r.With(apikey.RequireScopes("webhooks:write")).Post("/webhooks", listWebhooks)
	})
	return r
}

func listWebhooks(w http.ResponseWriter, r *http.Request) {
	key, _ := apikey.FromContext(r.Context())
	w.Write([]byte("webhooks of " + key.Name))
}
