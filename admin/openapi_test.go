package admin_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey/admin"
	"github.com/keyward/apikey/store/memstore"
)

// TestOpenAPIMatchesRoutes checks the served document against the real
// handler: every documented operation is routed (not 405, not "No such
// route"), and every method the document leaves out of a path is 405.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	t.Parallel()
	e := newEnv(t, memstore.New())
	a := e.do("GET", "/v1/openapi.json", "", nil)
	require.Equal(t, http.StatusOK, a.status)
	assert.JSONEq(t, string(admin.OpenAPI()), a.body)
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	require.NoError(t, json.Unmarshal([]byte(a.body), &doc))
	assert.Equal(t, "3.1.0", doc.OpenAPI)

	methods := []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
	documented := 0
	for path, item := range doc.Paths {
		concrete := "/v1" + strings.ReplaceAll(path, "{id}", "01900000-0000-7000-8000-000000000000")
		for _, method := range methods {
			_, ok := item[strings.ToLower(method)]
			var body any
			if method == "POST" || method == "PATCH" {
				body = map[string]any{}
			}
			got := e.do(method, concrete, e.service, body)
			if !ok {
				assert.Equal(t, http.StatusMethodNotAllowed, got.status, "%s %s is not documented, so it must not be routed", method, path)
				continue
			}
			documented++
			assert.NotEqual(t, http.StatusMethodNotAllowed, got.status, "%s %s is documented but not routed", method, path)
			assert.NotEqual(t, "No such route", got.errMessage(), "%s %s", method, path)
		}
		for key := range item {
			if key != "parameters" {
				assert.True(t, slices.Contains(methods, strings.ToUpper(key)), "%s %s: a method this test does not try", key, path)
			}
		}
	}
	assert.Equal(t, len(admin.RouteTable()), documented)
	for _, op := range admin.RouteTable() {
		method, path, _ := strings.Cut(op, " ")
		_, ok := doc.Paths[path][strings.ToLower(method)]
		assert.True(t, ok, "route %s is not documented", op)
	}
	// Paths the document does not have are not routed either.
	for _, path := range []string{"/v1/api-keys/x/revoke", "/v1/keys", "/v1/audit-events/x"} {
		assert.Equal(t, "No such route", e.do("GET", path, e.service, nil).errMessage(), path)
	}
}
