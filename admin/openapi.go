package admin

import (
	_ "embed"
	"net/http"
)

// openAPIDocument is the OpenAPI 3.1 description of the routes; a test
// checks it against the handler.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI 3.1 document of the handler's routes, with
// paths relative to where the handler is mounted (set servers[].url to
// that prefix when publishing it).
func OpenAPI() []byte { return append([]byte(nil), openAPIDocument...) }

func openAPIHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, &apiError{status: 405, code: "method_not_allowed", message: "Allowed: GET, HEAD"})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		if r.Method == http.MethodGet {
			_, _ = w.Write(openAPIDocument)
		}
	})
}
