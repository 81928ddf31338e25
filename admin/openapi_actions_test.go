package admin_test

import (
	"encoding/json"
	"os"
	"testing"

	"github.com/keyward/apikey/audit"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
					Enum []audit.Action `json:"enum"`
				} `json:"AuditAction"`
			} `json:"schemas"`
		} `json:"components"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc))
	assert.Equal(t, audit.Actions(), doc.Components.Schemas.AuditAction.Enum)
}
