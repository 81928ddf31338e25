// Command verify shows a handler that checks the API key itself with
// Manager.Verify instead of using the middleware: for a framework the
// middleware does not fit, or a key that arrives some other way (a
// WebSocket's first message, a queue message). It reads the key with
// apikey.KeyFromRequest, by the middleware's rules (Bearer in any case or
// X-API-Key, sent once), and listens on 127.0.0.1:8082, beside the
// quickstart's 8080. It maps Verify's errors the way the middleware does:
// 401 for any bad key, alike whatever the reason; 403 for a missing scope;
// 503 when the store fails (fail closed).
//
//	go run ./examples/verify
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// defaultAddr is not the quickstart's (8080) nor ratelimits' (8081), so
// the examples run side by side.
const defaultAddr = "127.0.0.1:8082"

func main() {
	addr := flag.String("addr", defaultAddr, "address to listen on")
	flag.Parse()
	m, err := apikey.New(memstore.New())
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	_, secret, err := m.Create(context.Background(), apikey.CreateParams{Name: "verify example", Scopes: []string{"reports:read"}})
	if err != nil {
		log.Fatal(err)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Listening on http://%s\n\nKey (shown once): %s\n\n    curl -i -H 'Authorization: Bearer %s' http://%s/reports\n\n",
		ln.Addr(), secret, secret, ln.Addr())

	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	mux := http.NewServeMux()
	mux.Handle("GET /reports", reports(m, logger))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	log.Fatal(srv.Serve(ln))
}

// reports checks the key itself, then uses it.
func reports(m *apikey.Manager, logger *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The middleware's rules: Bearer in any case, or X-API-Key, once.
		presented, err := apikey.KeyFromRequest(r)
		switch {
		case errors.Is(err, apikey.ErrDuplicateCredentials):
			w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_request"`)
			http.Error(w, "send the API key once", http.StatusBadRequest)
			return
		case err != nil:
			w.Header().Set("WWW-Authenticate", `Bearer realm="api"`)
			http.Error(w, "missing API key", http.StatusUnauthorized)
			return
		}
		key, err := m.Verify(r.Context(), presented, "reports:read")
		if err != nil {
			status := statusOf(err)
			// The reason (revoked, expired, ...) and the key id go to the
			// log, never to the client, and the key goes nowhere.
			logger.LogAttrs(r.Context(), slog.LevelInfo, "key refused",
				slog.Int("status", status), slog.String("error", err.Error()))
			switch status {
			case http.StatusUnauthorized:
				w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="invalid_token"`)
			case http.StatusForbidden:
				w.Header().Set("WWW-Authenticate", `Bearer realm="api", error="insufficient_scope", scope="reports:read"`)
			}
			w.Header().Set("Cache-Control", "no-store")
			http.Error(w, http.StatusText(status), status)
			return
		}
		fmt.Fprintf(w, "reports for %s (owner %q)\n", key.Name, key.OwnerID)
	})
}

// statusOf maps a Verify error to a status. Anything unexpected is a 503:
// never let an error you did not plan for through.
func statusOf(err error) int {
	switch {
	case errors.Is(err, apikey.ErrInvalidKey):
		return http.StatusUnauthorized
	case errors.Is(err, apikey.ErrInsufficientScope):
		return http.StatusForbidden
	case errors.Is(err, apikey.ErrRateLimited) && !errors.Is(err, apikey.ErrStoreUnavailable):
		return http.StatusTooManyRequests
	}
	return http.StatusServiceUnavailable
}
