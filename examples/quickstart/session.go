package main

import (
	"crypto/rand"
	"errors"
	"net/http"
	"sync"
	"time"

	"github.com/keyward/apikey/admin"
	"github.com/keyward/apikey/audit"
)

// sessionCookie is the demo's session cookie: HttpOnly, SameSite=Strict.
const sessionCookie = "quickstart_session"

const sessionTTL = 12 * time.Hour

// sessions is the demo's sign-in: the quickstart prints a one-time link
// (a random token, not an API key) that starts a browser session. A real
// service uses its own login instead and passes its session check to
// admin.WithAuthorizer.
type sessions struct {
	mu     sync.Mutex
	logins map[string]bool      // one-time sign-in tokens, unused
	active map[string]time.Time // session ID → expiry
}

func newSessions() *sessions {
	return &sessions{logins: map[string]bool{}, active: map[string]time.Time{}}
}

// loginToken returns a new single-use sign-in token.
func (s *sessions) loginToken() string {
	t := rand.Text()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logins[t] = true
	return t
}

// login answers GET /login?token=…: a valid unused token becomes a
// session cookie and a redirect to the admin page, so that the token
// leaves the address bar at once.
func (s *sessions) login(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer")
	t := r.URL.Query().Get("token")
	s.mu.Lock()
	ok := t != "" && s.logins[t]
	delete(s.logins, t)
	var id string
	if ok {
		id = rand.Text()
		s.active[id] = time.Now().Add(sessionTTL)
	}
	s.mu.Unlock()
	if !ok {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusUnauthorized)
		w.Write([]byte("Sign in with the one-time link the quickstart printed; restart it for a new one.\n"))
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: sessionCookie, Value: id, Path: "/", MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil,
	})
	http.Redirect(w, r, "/admin/ui/", http.StatusSeeOther)
}

// authorize is the admin handler's Authorizer: a signed-in person is an
// administrator of every owner's keys.
func (s *sessions) authorize(r *http.Request) (*admin.Principal, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, errors.New("no session cookie")
	}
	s.mu.Lock()
	exp, ok := s.active[c.Value]
	if ok && time.Now().After(exp) {
		delete(s.active, c.Value)
		ok = false
	}
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("unknown or expired session")
	}
	return &admin.Principal{ActorType: audit.ActorUser, ActorID: "demo-admin", AllOwners: true, AnyScope: true}, nil
}
