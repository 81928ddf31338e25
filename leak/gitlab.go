package leak

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"net/http"
	"slices"
	"strings"

	"github.com/keyward/apikey"
)

// GitLab token revocation API
//
// GitLab's secret detection calls, with the pre-shared token in the
// Authorization header (the token alone, or "Bearer <token>"):
//
//	GET  /v1/revocable_token_types  → 200 {"types":["apikey"]}
//	POST /v1/revoke_tokens          [{"type":"apikey","token":"sk_live_…","location":"https://…"}] → 204

// GitLabToken is one entry of a POST /v1/revoke_tokens body.
type GitLabToken struct {
	Type     string `json:"type"`
	Token    string `json:"token"`
	Location string `json:"location"`
}

// minGitLabTokenLen is the shortest pre-shared token accepted.
const minGitLabTokenLen = 16

// GitLab returns the handler of GitLab's token revocation API over m,
// authenticated with token (at least 16 bytes; GitLab's
// secret_detection_token_revocation_token). It serves /v1/revocable_token_types
// and /v1/revoke_tokens: mount it with http.StripPrefix under the prefix
// GitLab is configured with. Without the token every request is 401; a
// type not in TokenTypes is 400 and nothing is revoked; a body over
// MaxBodyBytes is 413; a store failure 503. Otherwise 204, whatever the
// tokens were: a replay is harmless. Options: WithPolicy, WithMaxBodyBytes, WithLogger,
// WithTokenTypes.
func GitLab(m *apikey.Manager, token string, opts ...Option) (http.Handler, error) {
	if m == nil {
		return nil, invalid("manager", "must not be nil")
	}
	if len(token) < minGitLabTokenLen {
		return nil, invalid("token", "must be at least 16 bytes")
	}
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	h := &gitlabHandler{in: intake{m: m, cfg: c, source: "gitlab"}, token: sha256.Sum256([]byte(token)),
		types: slices.Clone(c.types)}
	h.mux.HandleFunc("GET /v1/revocable_token_types", h.tokenTypes)
	h.mux.HandleFunc("POST /v1/revoke_tokens", h.revoke)
	return h, nil
}

type gitlabHandler struct {
	in    intake
	token [sha256.Size]byte // compared as digests: constant time whatever the lengths
	types []string
	mux   http.ServeMux
}

func (h *gitlabHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	presented := r.Header.Get("Authorization")
	if len(presented) > 7 && strings.EqualFold(presented[:7], "Bearer ") {
		presented = strings.TrimSpace(presented[7:])
	}
	sum := sha256.Sum256([]byte(presented))
	if len(r.Header.Values("Authorization")) != 1 || subtle.ConstantTimeCompare(sum[:], h.token[:]) != 1 {
		writeError(w, http.StatusUnauthorized, "unauthorized", "A valid token is required.")
		return
	}
	h.mux.ServeHTTP(w, r)
}

func (h *gitlabHandler) tokenTypes(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, struct {
		Types []string `json:"types"`
	}{h.types})
}

func (h *gitlabHandler) revoke(w http.ResponseWriter, r *http.Request) {
	body, ok := h.in.readBody(w, r)
	if !ok {
		return
	}
	var tokens []GitLabToken
	if err := json.Unmarshal(body, &tokens); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", "The body must be a JSON array of tokens.")
		return
	}
	reports := make([]report, len(tokens))
	for i, t := range tokens {
		if !slices.Contains(h.types, t.Type) {
			writeError(w, http.StatusBadRequest, "unsupported_token_type", "A token type is not supported; see /v1/revocable_token_types.")
			return
		}
		reports[i] = report{token: t.Token, source: "gitlab", url: t.Location}
	}
	if _, err := h.in.reportAll(r.Context(), r, reports); err != nil {
		h.in.failed(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
