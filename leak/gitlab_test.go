package leak_test

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/leak"
)

const gitlabToken = "a pre-shared token of GitLab's settings"

func gitlabServer(t *testing.T, f *fixture, opts ...leak.Option) string {
	t.Helper()
	h, err := leak.GitLab(f.m, gitlabToken, opts...)
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.Handle("/revocation/", http.StripPrefix("/revocation", h))
	return serve(t, mux).URL + "/revocation"
}

func gitlabTokens(typ string, tokens ...string) []leak.GitLabToken {
	out := make([]leak.GitLabToken, len(tokens))
	for i, tok := range tokens {
		out[i] = leak.GitLabToken{Type: typ, Token: tok, Location: "https://gitlab.example.com/g/p/-/blob/main/ci.yml"}
	}
	return out
}

func TestGitLabTokenTypes(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	url := gitlabServer(t, f, leak.WithTokenTypes("gitleaks_rule_id_acme_api_key"))
	for _, tc := range []struct {
		name  string
		auth  []string
		want  int
		types string
	}{
		{"raw token", []string{gitlabToken}, http.StatusOK, `{"types":["gitleaks_rule_id_acme_api_key"]}`},
		{"bearer", []string{"Bearer " + gitlabToken}, http.StatusOK, `{"types":["gitleaks_rule_id_acme_api_key"]}`},
		{"none", nil, http.StatusUnauthorized, ""},
		{"wrong", []string{"a pre-shared token of GitLab's settingz"}, http.StatusUnauthorized, ""},
		{"prefix of it", []string{gitlabToken[:20]}, http.StatusUnauthorized, ""},
		{"twice", []string{gitlabToken, gitlabToken}, http.StatusUnauthorized, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, url+"/v1/revocable_token_types", nil)
			require.NoError(t, err)
			for _, a := range tc.auth {
				req.Header.Add("Authorization", a)
			}
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			assert.Equal(t, tc.want, resp.StatusCode)
			if tc.types != "" {
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				assert.JSONEq(t, tc.types, string(b))
			}
		})
	}
}

func TestGitLabRevoke(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	url := gitlabServer(t, f, leak.WithMaxBodyBytes(256<<10)) + "/v1/revoke_tokens"
	auth := map[string]string{"Authorization": gitlabToken}
	live, old := f.key(), f.revoked()
	unknown := unknownKeys(t, 1)[0]

	// Unauthenticated: nothing done.
	body := mustJSON(t, gitlabTokens(leak.DefaultGitLabTokenType, live))
	status, _, _ := post(t, url, body, map[string]string{"Authorization": "Bearer nope"})
	assert.Equal(t, http.StatusUnauthorized, status)
	assert.Equal(t, http.StatusOK, f.status(live))

	// An unsupported type: 400 and nothing done, even for the other entries.
	mixed := append(gitlabTokens(leak.DefaultGitLabTokenType, live), gitlabTokens("aws_secret", "AKIA…")...)
	status, out, _ := post(t, url, mustJSON(t, mixed), auth)
	assert.Equal(t, http.StatusBadRequest, status, "%s", out)
	assert.Equal(t, http.StatusOK, f.status(live))

	// Live, revoked, unknown and garbage: 204 alike, and replays too.
	var answers []string
	for _, tokens := range [][]string{{live}, {live}, {old}, {unknown}, {"not a key"}} {
		status, out, _ := post(t, url, mustJSON(t, gitlabTokens(leak.DefaultGitLabTokenType, tokens...)), auth)
		assert.Equal(t, http.StatusNoContent, status)
		answers = append(answers, string(out))
		noSecrets(t, out, live, old, unknown)
	}
	assert.Equal(t, []string{"", "", "", "", ""}, answers, "indistinguishable")
	assert.Equal(t, http.StatusUnauthorized, f.status(live))

	// A batch of 1,000.
	var batch []string
	var lives []string
	for range 10 {
		lives = append(lives, f.key())
	}
	batch = append(unknownKeys(t, 990), lives...)
	status, _, _ = post(t, url, mustJSON(t, gitlabTokens(leak.DefaultGitLabTokenType, batch...)), auth)
	assert.Equal(t, http.StatusNoContent, status)
	for _, k := range lives {
		assert.Equal(t, http.StatusUnauthorized, f.status(k))
	}

	// Hostile sizes, and the wrong method.
	huge := mustJSON(t, gitlabTokens(leak.DefaultGitLabTokenType, strings.Repeat("k", 300<<10)))
	status, _, _ = post(t, url, huge, auth)
	assert.Equal(t, http.StatusRequestEntityTooLarge, status)
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", gitlabToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusMethodNotAllowed, resp.StatusCode)

	// The store down: 503, so that GitLab retries.
	next := f.key()
	f.store.fail.Store(true)
	status, _, _ = post(t, url, mustJSON(t, gitlabTokens(leak.DefaultGitLabTokenType, next)), auth)
	assert.Equal(t, http.StatusServiceUnavailable, status)
}

func TestGitLabOptions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	_, err := leak.GitLab(f.m, "short")
	assert.ErrorIs(t, err, apikey.ErrInvalidParams)
	_, err = leak.GitLab(f.m, gitlabToken, leak.WithTokenTypes())
	assert.ErrorIs(t, err, apikey.ErrInvalidParams)
}
