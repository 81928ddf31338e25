package admin

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/keyward/apikey"
)

// UIConfig configures the "Settings → API keys" page that WithUI serves.
type UIConfig struct {
	// SessionCookie names the host's session cookie (required). The
	// page's CSRF token is an HMAC of its value, so a token is good for
	// one session only.
	SessionCookie string
	// CSRFKey signs the CSRF tokens: at least 32 random bytes, the same
	// on every instance behind one load balancer. nil: a random key per
	// handler, so tokens last as long as the process.
	CSRFKey []byte
	// LoginURL is where a visit to the page without a session is sent
	// (303 See Other); empty: 401.
	LoginURL string
	// TrustedOrigins are other origins (scheme://host[:port]) allowed to
	// send state-changing requests, for a proxy that rewrites Host: the
	// same as WithTrustedOrigins.
	TrustedOrigins []string
}

// WithUI serves the key-management page at /ui/ (relative to where the
// handler is mounted), for people signed in to the host: it needs
// WithAuthorizer. The page talks to the REST routes; with it, every
// state-changing request (POST, PATCH, DELETE, PUT) must carry the page's
// CSRF token in the X-CSRF-Token header, besides being same-origin (as
// every handler requires), or it answers 403. Mount a second handler
// without WithUI for clients that cannot send the token.
func WithUI(c UIConfig) Option {
	c.CSRFKey = slices.Clone(c.CSRFKey)
	c.TrustedOrigins = slices.Clone(c.TrustedOrigins)
	return func(cfg *config) { cfg.ui = &c }
}

const (
	uiPath     = "/ui"
	csrfHeader = "X-CSRF-Token"
	// uiCSP allows the page's own script, style and fetches, and nothing
	// inline; no framing, no <base>, forms post only to this origin.
	uiCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; " +
		"form-action 'self'; require-trusted-types-for 'script'"
)

var errCSRFToken = &apiError{status: 403, code: "csrf_failed", message: csrfHeader + ": missing or wrong CSRF token"}

// ui serves the page and guards the API's state-changing routes.
type ui struct {
	h     *handler
	cfg   *UIConfig
	key   []byte
	files map[string]uiFile
}

// withUI returns api unchanged without WithUI; with it, a handler that
// serves the page under /ui and checks CSRF before api.
func (h *handler) withUI(api http.Handler) (http.Handler, error) {
	c := h.cfg.ui
	if c == nil {
		return api, nil
	}
	switch {
	case !h.cfg.authorizerSet:
		return nil, &apikey.ParamError{Field: "ui", Reason: "needs WithAuthorizer: the page signs in with the host's sessions"}
	case c.SessionCookie == "":
		return nil, &apikey.ParamError{Field: "ui.session_cookie", Reason: "must name the host's session cookie"}
	case c.CSRFKey != nil && len(c.CSRFKey) < 32:
		return nil, &apikey.ParamError{Field: "ui.csrf_key", Reason: "must be at least 32 bytes"}
	}
	if c.LoginURL != "" {
		if u, err := url.Parse(c.LoginURL); err != nil || (u.Scheme != "" && u.Scheme != "https" && u.Scheme != "http") {
			return nil, &apikey.ParamError{Field: "ui.login_url", Reason: "must be a path or an http(s) URL"}
		}
	}
	u := &ui{h: h, cfg: c, key: c.CSRFKey}
	for _, o := range c.TrustedOrigins {
		if err := http.NewCrossOriginProtection().AddTrustedOrigin(o); err != nil {
			return nil, &apikey.ParamError{Field: "ui.trusted_origins", Reason: err.Error()}
		}
	}
	if u.key == nil {
		u.key = make([]byte, 32)
		if _, err := rand.Read(u.key); err != nil {
			return nil, err
		}
	}
	files, err := loadUIFiles()
	if err != nil {
		return nil, err
	}
	u.files = files
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hdr := w.Header()
		hdr.Set("X-Content-Type-Options", "nosniff")
		hdr.Set("Referrer-Policy", "no-referrer")
		if r.URL.Path == uiPath || strings.HasPrefix(r.URL.Path, uiPath+"/") {
			u.serve(w, r)
			return
		}
		if e := u.checkCSRF(r); e != nil {
			h.write(w, r, e)
			return
		}
		api.ServeHTTP(w, r)
	}), nil
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// checkCSRF refuses a state-changing request that lacks the session's
// token (the handler has already refused cross-origin ones).
func (u *ui) checkCSRF(r *http.Request) *apiError {
	if safeMethod(r.Method) {
		return nil
	}
	c, err := r.Cookie(u.cfg.SessionCookie)
	if err != nil || c.Value == "" {
		return errCSRFToken
	}
	if !hmac.Equal([]byte(r.Header.Get(csrfHeader)), []byte(u.token(c.Value))) {
		return errCSRFToken
	}
	return nil
}

// token is the CSRF token of a session: HMAC-SHA-256 of its cookie.
func (u *ui) token(session string) string {
	mac := hmac.New(sha256.New, u.key)
	mac.Write([]byte("apikey/admin csrf v1\x00"))
	mac.Write([]byte(session))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// serve answers GET/HEAD under /ui: the page, its assets and
// config.json, to a caller the Authorizer accepts.
func (u *ui) serve(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Content-Security-Policy", uiCSP)
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Frame-Options", "DENY")
	hdr.Set("Cross-Origin-Opener-Policy", "same-origin")
	hdr.Set("Cross-Origin-Resource-Policy", "same-origin")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		hdr.Set("Allow", "GET, HEAD")
		u.h.write(w, r, &apiError{status: 405, code: "method_not_allowed", message: "Allowed: GET, HEAD"})
		return
	}
	name := strings.TrimPrefix(strings.TrimPrefix(r.URL.Path, uiPath), "/")
	isPage := name == "" || name == "index.html"
	p, e := u.h.principal(r)
	if e == nil && !u.h.mayAccess(p, false) {
		e = errNoAccess
	}
	if e != nil {
		if isPage && e.status == http.StatusUnauthorized && u.cfg.LoginURL != "" {
			http.Redirect(w, r, u.cfg.LoginURL, http.StatusSeeOther)
			return
		}
		u.h.write(w, r, e)
		return
	}
	switch {
	case r.URL.Path == uiPath:
		// Relative, so that it works under any mount prefix (which
		// http.Redirect would resolve away).
		hdr.Set("Location", "ui/")
		w.WriteHeader(http.StatusMovedPermanently)
	case name == "config.json":
		respond(w, http.StatusOK, u.config(r, p))
	case isPage:
		u.files["index.html"].serve(w, r)
	default:
		f, ok := u.files[name]
		if !ok {
			u.h.write(w, r, errNoRoute)
			return
		}
		f.serve(w, r)
	}
}
