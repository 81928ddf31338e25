package leak_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/leak"
	"github.com/keyward/apikey/store/memstore"
)

// Mount GitHub's secret scanning partner endpoint at the URL registered
// with GitHub. Reported keys are revoked (the default policy); the signing
// keys are fetched from GitHub, cached, and fetched again when GitHub
// rotates them.
func ExampleGitHub() {
	m, err := apikey.New(memstore.New())
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	h, err := leak.GitHub(m)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("POST /security/github-secret-scanning", h)
}

// Mount GitLab's token revocation API under /revocation: GitLab is then
// configured with .../revocation/v1/revoke_tokens and
// .../revocation/v1/revocable_token_types, and the same token.
func ExampleGitLab() {
	m, err := apikey.New(memstore.New())
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	h, err := leak.GitLab(m, "the secret_detection_token_revocation_token",
		leak.WithTokenTypes("gitleaks_rule_id_acme_api_key"), leak.WithPolicy(apikey.LeakDisable))
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/revocation/", http.StripPrefix("/revocation", h))

	req := httptest.NewRequest(http.MethodGet, "/revocation/v1/revocable_token_types", nil)
	req.Header.Set("Authorization", "the secret_detection_token_revocation_token")
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	fmt.Println(rec.Code, rec.Body.String())
	// Output: 200 {"types":["gitleaks_rule_id_acme_api_key"]}
}

// Anyone who finds a key can have it revoked; the answer is the same for
// any string.
func ExamplePublic() {
	ctx := context.Background()
	m, err := apikey.New(memstore.New())
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	_, secret, err := m.Create(ctx, apikey.CreateParams{Name: "pasted in a chat"})
	if err != nil {
		log.Fatal(err)
	}
	h, err := leak.Public(m)
	if err != nil {
		log.Fatal(err)
	}

	for _, found := range []string{secret, "sk_live_not_a_key"} {
		body := `{"credentials":["` + found + `"]}`
		req := httptest.NewRequest(http.MethodPost, "/credentials/revoke", strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		fmt.Println(rec.Code, rec.Body.String())
	}
	_, err = m.Verify(ctx, secret)
	fmt.Println(errors.Is(err, apikey.ErrRevoked))
	// Output:
	// 202 {}
	// 202 {}
	// true
}
