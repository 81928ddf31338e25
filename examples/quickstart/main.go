// Command quickstart is a small webhooks API protected by API keys: a
// public health check, a route that needs webhooks:read and one that needs
// webhooks:write. At start it creates a key, prints it once and prints
// curl lines to try it. It also mounts the key-management API and its
// "Settings → API keys" page under /admin/, and prints a one-time link
// that signs a browser in to the page.
//
// Keys live in a SQLite file (quickstart.db by default), so they survive a
// restart:
//
//	go run ./examples/quickstart
//	go run ./examples/quickstart -addr 127.0.0.1:9090 -db /tmp/keys.db
//	APIKEY_DB=/tmp/keys.db go run ./examples/quickstart
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/admin"
	"github.com/keyward/apikey/store/sqlitestore"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	db := flag.String("db", envOr("APIKEY_DB", "quickstart.db"), "SQLite file the keys live in (env APIKEY_DB)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *addr, *db, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func run(ctx context.Context, addr, dbPath string, out io.Writer) error {
	// The embedded default: one file, pure Go, migrated on open.
	store, err := sqlitestore.Open(dbPath)
	if err != nil {
		return err
	}
	defer store.Close()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	m, err := apikey.New(store, apikey.WithLogger(logger),
		apikey.WithScopeVocabulary("webhooks:read", "webhooks:write"))
	if err != nil {
		return err
	}
	defer m.Close()

	key, secret, err := m.Create(ctx, apikey.CreateParams{
		Name:   "quickstart",
		Scopes: []string{"webhooks:read", "webhooks:write"},
	})
	if err != nil {
		return err
	}
	sess := newSessions()
	api, err := newAPI(m, logger, sess)
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "Created key %s (%s). It is shown once:\n\n    %s\n\n", key.ID, key.Prefix, secret)
	fmt.Fprintf(out, "Try:\n")
	fmt.Fprintf(out, "    curl -i %s/health\n", base)
	fmt.Fprintf(out, "    curl -i -H 'Authorization: Bearer %s' %s/webhooks\n", secret, base)
	fmt.Fprintf(out, "    curl -i -H 'X-API-Key: %s' -d '{\"url\":\"https://example.com/hook\"}' %s/webhooks\n", secret, base)
	fmt.Fprintf(out, "    curl -i %s/webhooks\n\n", base)
	fmt.Fprintf(out, "Manage keys in a browser (a one-time sign-in link):\n\n    %s/login?token=%s\n\n", base, sess.loginToken())

	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// newAPI returns the routes, all behind one middleware: GET /health is
// public; the webhooks routes need a key, and a scope each; /login and
// /admin/ (the key-management API and page, for a signed-in browser
// session) are public to the middleware and authenticate on their own.
func newAPI(m *apikey.Manager, logger *slog.Logger, sess *sessions) (http.Handler, error) {
	auth, err := m.NewMiddleware(apikey.LogFailures(logger), apikey.RecoverPanics())
	if err != nil {
		return nil, err
	}
	manage, err := admin.NewHandler(m, admin.WithAuthorizer(sess.authorize), admin.WithLogger(logger),
		admin.WithUI(admin.UIConfig{SessionCookie: sessionCookie, LoginURL: "/login"}))
	if err != nil {
		return nil, err
	}
	hooks := &webhooks{}
	mux := http.NewServeMux()
	mux.Handle("GET /health", apikey.Public(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})))
	mux.Handle("GET /webhooks", apikey.RequireScopes("webhooks:read")(http.HandlerFunc(hooks.list)))
	mux.Handle("POST /webhooks", apikey.RequireScopes("webhooks:write")(http.HandlerFunc(hooks.create)))
	mux.Handle("GET /login", apikey.Public(http.HandlerFunc(sess.login)))
	mux.Handle("/admin/", apikey.Public(http.StripPrefix("/admin", manage)))
	return auth(mux), nil
}

type webhook struct {
	ID    int    `json:"id"`
	URL   string `json:"url"`
	Owner string `json:"created_by"` // the key's id, never the key
}

// webhooks is an in-memory list, enough for a demo.
type webhooks struct {
	mu  sync.Mutex
	all []webhook
}

func (h *webhooks) list(w http.ResponseWriter, r *http.Request) {
	h.mu.Lock()
	defer h.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"data": append([]webhook{}, h.all...)})
}

func (h *webhooks) create(w http.ResponseWriter, r *http.Request) {
	var in struct {
		URL string `json:"url"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil || in.URL == "" {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": map[string]string{
			"code": "invalid_request", "message": `body must be {"url": "..."}`}})
		return
	}
	key, _ := apikey.FromContext(r.Context())
	h.mu.Lock()
	hook := webhook{ID: len(h.all) + 1, URL: in.URL, Owner: key.ID}
	h.all = append(h.all, hook)
	h.mu.Unlock()
	writeJSON(w, http.StatusCreated, hook)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
