package admin

import (
	"embed"
	"io/fs"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// uiAssets is the page: plain HTML, CSS and JavaScript, no build step.
//
//go:embed ui/index.html ui/app.css ui/app.js
var uiAssets embed.FS

type uiFile struct {
	contentType string
	body        []byte
}

func loadUIFiles() (map[string]uiFile, error) {
	files := map[string]uiFile{}
	err := fs.WalkDir(uiAssets, "ui", func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := uiAssets.ReadFile(name)
		if err != nil {
			return err
		}
		ct := "application/octet-stream"
		switch path.Ext(name) {
		case ".html":
			ct = "text/html; charset=utf-8"
		case ".css":
			ct = "text/css; charset=utf-8"
		case ".js":
			ct = "text/javascript; charset=utf-8"
		}
		files[strings.TrimPrefix(name, "ui/")] = uiFile{contentType: ct, body: body}
		return nil
	})
	return files, err
}

func (f uiFile) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", f.contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(f.body)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(f.body)
}

// uiConfig is what the page needs to know: GET /ui/config.json.
type uiConfig struct {
	CSRFToken    *string  `json:"csrf_token"` // null without a session cookie: read only
	ActorID      string   `json:"actor_id"`
	OwnerID      string   `json:"owner_id"`
	AllOwners    bool     `json:"all_owners"`
	CanManage    bool     `json:"can_manage"`
	Scopes       []string `json:"scopes"` // the vocabulary the caller may grant; null: any scope, typed
	Environments []string `json:"environments"`
}

func (u *ui) config(r *http.Request, p *Principal) *uiConfig {
	c := &uiConfig{
		ActorID: p.ActorID, OwnerID: p.OwnerID, AllOwners: p.AllOwners,
		CanManage: u.h.mayAccess(p, true), Environments: []string{"live", "test"},
	}
	if ck, err := r.Cookie(u.cfg.SessionCookie); err == nil && ck.Value != "" {
		t := u.token(ck.Value)
		c.CSRFToken = &t
	}
	if vocab := u.h.m.ScopeVocabulary(); len(vocab) > 0 {
		c.Scopes = []string{}
		for _, s := range vocab {
			if u.h.holds(p, s) {
				c.Scopes = append(c.Scopes, s)
			}
		}
	}
	if p.Environment != "" {
		c.Environments = []string{p.Environment}
	}
	return c
}
