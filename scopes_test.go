package apikey

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestScopeGrants(t *testing.T) {
	t.Parallel()
	rules := map[string][]string{
		"write":          {"read"},
		"admin":          {"write"},
		"billing:manage": {"billing:read", "invoices:read"},
		"owner":          {"billing:write"},
		"billing:read":   {"invoices:read"},
		"apps:write":     {"audit:write"},
	}
	policy, err := newScopePolicy(nil, rules)
	require.NoError(t, err)

	tests := []struct {
		name     string
		granted  []string
		required string
		want     bool
	}{
		{"exact", []string{"webhooks:read"}, "webhooks:read", true},
		{"other resource", []string{"webhooks:read"}, "apps:read", false},
		{"case-sensitive", []string{"webhooks:read"}, "Webhooks:read", false},
		{"star grants all", []string{"*"}, "anything:at:all", true},
		{"resource wildcard", []string{"webhooks:*"}, "webhooks:delete", true},
		{"resource wildcard, nested", []string{"webhooks:*"}, "webhooks:jobs:read", true},
		{"resource wildcard, other resource", []string{"webhooks:*"}, "webhooksx:read", false},
		{"resource wildcard, bare resource", []string{"webhooks:*"}, "webhooks", false},
		{"required star is literal", []string{"webhooks:read"}, "webhooks:*", false},
		{"required star matched by itself", []string{"webhooks:*"}, "webhooks:*", true},
		{"required star matched by star", []string{"*"}, "*", true},
		{"bare action implication", []string{"write"}, "read", true},
		{"resource action implication", []string{"apps:write"}, "apps:read", true},
		{"implication keeps the resource", []string{"apps:write"}, "webhooks:read", false},
		{"implications are one-way", []string{"apps:read"}, "apps:write", false},
		{"transitive actions", []string{"apps:admin"}, "apps:read", true},
		{"exact implication", []string{"billing:manage"}, "invoices:read", true},
		{"exact implication is exact", []string{"billing:manage"}, "invoices:write", false},
		{"action then exact", []string{"admin"}, "read", true},
		{"exact then action", []string{"owner"}, "billing:read", true},
		{"exact, action, exact", []string{"owner"}, "invoices:read", true},
		{"action, exact, action", []string{"apps:admin"}, "audit:read", true},
		{"mixed chains stay one-way", []string{"invoices:read"}, "billing:read", false},
		{"wildcard grant with implication", []string{"apps:*"}, "apps:read", true},
		{"nothing granted", nil, "read", false},
		{"bare word is not a resource", []string{"read"}, "apps:read", false},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, policy.grants(tc.granted, tc.required), tc.name)
	}
	var plain *scopePolicy
	assert.False(t, plain.grants([]string{"write"}, "read"), "no implications without a policy")
	assert.True(t, plain.grants([]string{"apps:*"}, "apps:read"), "wildcards without a policy")
}

func TestAllOfAnyOf(t *testing.T) {
	t.Parallel()
	var p *scopePolicy
	granted := []string{"apps:read", "webhooks:write"}
	assert.True(t, p.allOf(granted, nil))
	assert.True(t, p.allOf(granted, []string{"apps:read", "webhooks:write"}))
	assert.False(t, p.allOf(granted, []string{"apps:read", "apps:write"}))
	assert.True(t, p.anyOf(granted, nil))
	assert.True(t, p.anyOf(granted, []string{"apps:write", "webhooks:write"}))
	assert.False(t, p.anyOf(granted, []string{"apps:write", "billing:read"}))
}

func TestNormalizeGrant(t *testing.T) {
	t.Parallel()
	vocab, err := newScopePolicy([]string{"webhooks:read", "webhooks:write", "read"}, nil)
	require.NoError(t, err)

	got, err := vocab.normalizeGrant([]string{"webhooks:write", "read", "webhooks:write"})
	require.NoError(t, err)
	assert.Equal(t, []string{"read", "webhooks:write"}, got, "sorted, without duplicates")

	for _, ok := range [][]string{{"*"}, {"webhooks:*"}, {}} {
		_, err := vocab.normalizeGrant(ok)
		assert.NoError(t, err, "%q", ok)
	}
	many := make([]string, 101)
	for i := range many {
		many[i] = "s" + string(rune('a'+i%26)) + string(rune('a'+i/26))
	}
	for name, bad := range map[string][]string{
		"typo":             {"webhooks:raed"},
		"unknown wildcard": {"apps:*"},
		"empty":            {""},
		"space":            {"webhooks read"},
		"quote":            {`"read"`},
		"backslash":        {`read\`},
		"non-ASCII":        {"lecture:é"},
		"control":          {"read\n"},
		"too long":         {string(make([]byte, 129))},
		"too many":         many,
	} {
		_, err := vocab.normalizeGrant(bad)
		var pe *ParamError
		if assert.ErrorAs(t, err, &pe, name) {
			assert.Equal(t, "scopes", pe.Field, name)
		}
	}
	var open *scopePolicy
	_, err = open.normalizeGrant([]string{"anything:goes"})
	assert.NoError(t, err, "without a vocabulary any valid scope is accepted")
}

func TestScopePolicyRejectsBadRules(t *testing.T) {
	t.Parallel()
	_, err := newScopePolicy([]string{"bad scope"}, nil)
	assert.ErrorIs(t, err, ErrInvalidParams)
	_, err = newScopePolicy(nil, map[string][]string{"write": {"re ad"}})
	assert.ErrorIs(t, err, ErrInvalidParams)
	_, err = newScopePolicy(nil, map[string][]string{"*": {"read"}})
	assert.ErrorIs(t, err, ErrInvalidParams)
	// Cycles are fine: both imply each other.
	p, err := newScopePolicy(nil, map[string][]string{"a": {"b"}, "b": {"a"}})
	require.NoError(t, err)
	assert.True(t, p.grants([]string{"a"}, "b"))
	assert.True(t, p.grants([]string{"b"}, "a"))
}

func TestScopeChecksDoNotAllocate(t *testing.T) {
	p, err := newScopePolicy(nil, map[string][]string{"write": {"read"}, "admin": {"apps:read"}})
	require.NoError(t, err)
	granted := []string{"webhooks:write", "billing:*"}
	required := []string{"webhooks:read", "billing:read"}
	assert.Zero(t, testing.AllocsPerRun(100, func() { _ = p.allOf(granted, required) }))
}
