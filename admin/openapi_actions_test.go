package admin_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/keyward/apikey"
)

// The document's AuditAction enum lists every action the Manager records,
// so that no event it serves falls outside its own schema.
func TestOpenAPIAuditActions(t *testing.T) {
	t.Parallel()
	raw, err := os.ReadFile("openapi.json")
	require.NoError(t, err)
	var doc struct {
		Components struct {
			Schemas struct {
				AuditAction struct {
					Enum []apikey.AuditAction `json:"enum"`
				} `json:"AuditAction"`
			} `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	assert.Equal(t, apikey.AuditActions(), doc.Components.Schemas.AuditAction.Enum)
}
