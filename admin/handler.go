package admin

import (
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
)

// route is one operation: a method on a path (as the OpenAPI document
// writes it) and what it needs.
type route struct {
	method, path string
	manage       bool // api_keys:manage; else api_keys:read
	serve        func(h *handler, w http.ResponseWriter, r *http.Request, p *Principal)
}

// routes is every operation of the handler but GET /openapi.json.
var routes = []route{
	{http.MethodPost, "/api-keys", true, (*handler).createKey},
	{http.MethodGet, "/api-keys", false, (*handler).listKeys},
	{http.MethodGet, "/api-keys/{id}", false, (*handler).getKey},
	{http.MethodPatch, "/api-keys/{id}", true, (*handler).updateKey},
	{http.MethodDelete, "/api-keys/{id}", true, (*handler).revokeKey},
	{http.MethodPost, "/api-keys/{id}/rotate", true, (*handler).rotateKey},
	{http.MethodGet, "/audit-events", false, (*handler).listAudit},
}

// openAPIPath is served without authentication.
const openAPIPath = "/openapi.json"

type handler struct {
	m   *apikey.Manager
	cfg config
}

// NewHandler returns the key-management API of m (see the package
// documentation), or an error matching apikey.ErrInvalidParams when an
// option is invalid.
func NewHandler(m *apikey.Manager, opts ...Option) (http.Handler, error) {
	if m == nil {
		return nil, &apikey.ParamError{Field: "manager", Reason: "must not be nil"}
	}
	c := defaultConfig()
	for _, opt := range opts {
		opt(&c)
	}
	if c.ui != nil {
		c.trustedOrigins = append(c.trustedOrigins, c.ui.TrustedOrigins...)
	}
	switch {
	case c.authorizerSet && c.authorizer == nil:
		return nil, &apikey.ParamError{Field: "authorizer", Reason: "must not be nil"}
	case c.authorizerSet && len(c.middlewareOpts) > 0:
		return nil, &apikey.ParamError{Field: "middleware_options", Reason: "unused with an Authorizer"}
	case c.maxBody <= 0:
		return nil, &apikey.ParamError{Field: "max_body_bytes", Reason: "must be positive"}
	case c.clock == nil, c.clientAddr == nil, c.logger == nil:
		return nil, &apikey.ParamError{Field: "options", Reason: "clock, client address and logger must not be nil"}
	}
	if !c.createLimitSet {
		c.createLimit = CreateLimitPerOwner(m, apikey.PerHour(DefaultCreateLimit))
	}
	h := &handler{m: m, cfg: c}
	mux := http.NewServeMux()
	var paths []string
	for _, rt := range routes {
		if !slices.Contains(paths, rt.path) {
			paths = append(paths, rt.path)
		}
	}
	for _, path := range paths {
		mux.Handle(path, h.dispatch(path))
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { h.write(w, r, errNoRoute) })

	api := http.Handler(mux)
	if !c.authorizerSet {
		mw, err := m.NewMiddleware(c.middlewareOpts...)
		if err != nil {
			return nil, err
		}
		api = mw(mux)
	}
	api, err := h.withUI(api) // the page and its CSRF token, with WithUI
	if err != nil {
		return nil, err
	}
	origin := http.NewCrossOriginProtection()
	for _, o := range c.trustedOrigins {
		if err := origin.AddTrustedOrigin(o); err != nil {
			return nil, &apikey.ParamError{Field: "trusted_origins", Reason: err.Error()}
		}
	}
	doc := openAPIHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == openAPIPath {
			doc.ServeHTTP(w, r)
			return
		}
		// Before authentication: a refused request costs no key lookup
		// and spends no budget.
		if e := guard(origin, r); e != nil {
			h.write(w, r, e)
			return
		}
		api.ServeHTTP(w, r)
	}), nil
}

// guard refuses what a browser can send across sites without a preflight:
// a state-changing request from another origin (Sec-Fetch-Site, else Origin
// against Host; clients without those headers, which browsers always send,
// are not browsers and pass), and a body that is not JSON, such as a
// text/plain or Blob one, whatever the route.
func guard(origin *http.CrossOriginProtection, r *http.Request) *apiError {
	if origin.Check(r) != nil {
		return errCSRFOrigin
	}
	if isJSON(r.Header.Get("Content-Type")) || emptyBody(r) {
		return nil
	}
	return errMediaType
}

// isJSON reports whether a Content-Type is application/json, with any
// parameters but a charset other than UTF-8 (RFC 8259 §8.1).
func isJSON(contentType string) bool {
	mt, params, err := mime.ParseMediaType(contentType)
	if err != nil || mt != "application/json" {
		return false
	}
	cs, ok := params["charset"]
	return !ok || strings.EqualFold(cs, "utf-8")
}

// emptyBody reports whether r has no body. A body of unknown length
// (chunked) is read for one byte; a request with one is refused anyway.
func emptyBody(r *http.Request) bool {
	switch {
	case r.ContentLength > 0:
		return false
	case r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody:
		return true
	}
	var b [1]byte
	n, _ := io.ReadFull(r.Body, b[:])
	return n == 0
}

// dispatch serves the operations of one path: 405 with Allow for other
// methods, then authentication, authorization, and the operation with
// the caller as the actor of its audit events.
func (h *handler) dispatch(path string) http.Handler {
	var ops []route
	var allow []string
	for _, rt := range routes {
		if rt.path == path {
			ops = append(ops, rt)
			allow = append(allow, rt.method)
		}
	}
	slices.Sort(allow)
	allowed := strings.Join(allow, ", ")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := slices.IndexFunc(ops, func(rt route) bool { return rt.method == r.Method })
		if i < 0 {
			w.Header().Set("Allow", allowed)
			h.write(w, r, &apiError{status: 405, code: "method_not_allowed", message: "Allowed: " + allowed})
			return
		}
		p, e := h.principal(r)
		if e != nil {
			h.write(w, r, e)
			return
		}
		if !h.mayAccess(p, ops[i].manage) {
			h.write(w, r, errNoAccess)
			return
		}
		actorType := p.ActorType
		if actorType == "" {
			actorType = audit.ActorUser
		}
		ctx := audit.ContextWithActor(r.Context(), audit.Actor{
			Type: actorType, ID: p.ActorID, ClientAddr: h.cfg.clientAddr(r), RequestID: h.requestID(r),
		})
		w.Header().Set("Cache-Control", "no-store")
		ops[i].serve(h, w, r.WithContext(ctx), p)
	})
}

// principal authenticates r: with the Authorizer, or from the key the
// middleware put in the context.
func (h *handler) principal(r *http.Request) (*Principal, *apiError) {
	var p *Principal
	if h.cfg.authorizerSet {
		var err error
		if p, err = h.cfg.authorizer(r); err != nil || p == nil {
			if err == nil {
				err = errors.New("authorizer returned no principal")
			}
			h.cfg.logger.LogAttrs(r.Context(), slog.LevelInfo, "apikey/admin: authorizer refused the request",
				slog.String("error", err.Error()))
			return nil, errUnauthorized
		}
	} else if k, ok := apikey.FromContext(r.Context()); ok {
		p = KeyPrincipal(k)
	} else {
		return nil, errUnauthorized // a Fallback let it through without a key
	}
	if p.OwnerID == "" && !p.AllOwners {
		return nil, errNoAccess // a principal without an owner would see every owner
	}
	return p, nil
}

// requestID is the request's correlation ID, if it has a sane one.
func (h *handler) requestID(r *http.Request) string {
	if h.cfg.requestID == "" {
		return ""
	}
	v := r.Header.Get(h.cfg.requestID)
	if len(v) > 128 {
		return ""
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x21 || v[i] > 0x7e {
			return ""
		}
	}
	return v
}
