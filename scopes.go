package apikey

import (
	"maps"
	"slices"
	"strings"

	"github.com/keyward/apikey/internal/scope"
)

// Scopes
//
// A scope is an RFC 6749 scope-token (printable ASCII except space, '"' and
// '\'), case-sensitive: "resource:action" ("webhooks:write") or a single word
// ("read"). A key's grant may be exact, "*" (everything) or "resource:*"
// (every scope that starts with "resource:"). A required scope is always
// literal: requiring "webhooks:*" is satisfied by a grant of "webhooks:*" or
// "*", not by "webhooks:read". There are no regular expressions.
//
// Implications (WithScopeImplications) are rules "from ⇒ to":
//   - between two single words ("write" ⇒ "read") a rule applies to bare
//     words and to the action of every resource ("x:write" ⇒ "x:read");
//   - any other rule ("admin" ⇒ "billing:read") is exact.
//
// Rules are applied transitively, and a chain may mix both kinds.

const maxScopes = 100

// covers reports whether one grant covers one required scope, without
// implications.
func covers(grant, required string) bool {
	if grant == required || grant == "*" {
		return true
	}
	n := len(grant)
	return n >= 2 && grant[n-2:] == ":*" && len(required) > n-1 && required[:n-1] == grant[:n-1]
}

// scopePolicy holds the Manager's scope vocabulary and implications,
// transitively closed at construction so that checks never allocate.
type scopePolicy struct {
	vocabulary []string            // sorted; nil means any scope is accepted
	exactBy    map[string][]string // scope -> every scope that implies it through exact rules
	actionBy   map[string][]string // action -> every action that implies it
}

func newScopePolicy(vocabulary []string, rules map[string][]string) (*scopePolicy, error) {
	p := &scopePolicy{}
	if vocabulary != nil {
		p.vocabulary = slices.Clone(vocabulary)
		for _, s := range p.vocabulary {
			if !scope.Valid(s) || strings.Contains(s, "*") {
				return nil, paramErr("scope_vocabulary", "invalid scope "+quoteScope(s))
			}
		}
		slices.Sort(p.vocabulary)
		p.vocabulary = slices.Compact(p.vocabulary)
	}
	exact := map[string][]string{}
	action := map[string][]string{}
	for from, tos := range rules {
		for _, to := range tos {
			if !scope.Valid(from) || !scope.Valid(to) || strings.Contains(from+to, "*") {
				return nil, paramErr("scope_implications", "invalid rule "+quoteScope(from)+" => "+quoteScope(to))
			}
			if strings.Contains(from, ":") || strings.Contains(to, ":") {
				exact[to] = append(exact[to], from)
			} else {
				action[to] = append(action[to], from)
			}
		}
	}
	p.actionBy = closeImplications(action)
	// A chain may alternate kinds: "admin" => "billing:write" (exact), then
	// "write" => "read" (action) gives "admin" => "billing:read". Extending
	// every exact rule by the actions its target implies, before closing,
	// covers every such chain; grantsDirect covers actions before the first
	// exact rule.
	impliedActions := map[string][]string{} // action -> actions it implies
	for to, froms := range p.actionBy {
		for _, from := range froms {
			impliedActions[from] = append(impliedActions[from], to)
		}
	}
	for to, froms := range maps.Clone(exact) {
		resource, act := splitScope(to)
		for _, a := range impliedActions[act] {
			exact[resource+a] = append(exact[resource+a], froms...)
		}
	}
	p.exactBy = closeImplications(exact)
	return p, nil
}

// splitScope splits "resource:action" into "resource:" and "action"; a
// single word is all action.
func splitScope(s string) (resource, action string) {
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i+1], s[i+1:]
	}
	return "", s
}

// closeImplications turns direct "implied by" edges into the transitive set
// for every node.
func closeImplications(direct map[string][]string) map[string][]string {
	if len(direct) == 0 {
		return nil
	}
	closed := make(map[string][]string, len(direct))
	for target := range direct {
		seen := map[string]bool{target: true}
		queue := []string{target}
		var all []string
		for len(queue) > 0 {
			n := queue[0]
			queue = queue[1:]
			for _, from := range direct[n] {
				if !seen[from] {
					seen[from] = true
					all = append(all, from)
					queue = append(queue, from)
				}
			}
		}
		slices.Sort(all)
		closed[target] = all
	}
	return closed
}

// grants reports whether granted satisfies one required scope. A nil policy
// means no implications.
func (p *scopePolicy) grants(granted []string, required string) bool {
	if p.grantsDirect(granted, required) {
		return true
	}
	if p == nil {
		return false
	}
	for _, implier := range p.exactBy[required] {
		if p.grantsDirect(granted, implier) {
			return true
		}
	}
	return false
}

// grantsDirect: covered by a grant, or by a grant of an implying action.
func (p *scopePolicy) grantsDirect(granted []string, required string) bool {
	for _, g := range granted {
		if covers(g, required) {
			return true
		}
	}
	if p == nil || len(p.actionBy) == 0 {
		return false
	}
	resource, act := splitScope(required)
	for _, a := range p.actionBy[act] {
		for _, g := range granted {
			// g covers resource+a, compared piecewise to avoid building it.
			if g == "*" || (len(g) == len(resource)+len(a) && g[:len(resource)] == resource && g[len(resource):] == a) ||
				(resource != "" && len(g) >= 2 && g[len(g)-2:] == ":*" && strings.HasPrefix(resource, g[:len(g)-1])) {
				return true
			}
		}
	}
	return false
}

// allOf reports whether granted satisfies every required scope.
func (p *scopePolicy) allOf(granted []string, required []string) bool {
	for _, r := range required {
		if !p.grants(granted, r) {
			return false
		}
	}
	return true
}

// anyOf reports whether granted satisfies at least one required scope; an
// empty requirement is satisfied.
func (p *scopePolicy) anyOf(granted []string, required []string) bool {
	if len(required) == 0 {
		return true
	}
	for _, r := range required {
		if p.grants(granted, r) {
			return true
		}
	}
	return false
}

// normalizeGrant validates the scopes a key is created with: each a valid
// token, at most maxScopes, known to the vocabulary when one is set. It
// returns a sorted copy without duplicates.
func (p *scopePolicy) normalizeGrant(scopes []string) ([]string, error) {
	if len(scopes) > maxScopes {
		return nil, paramErr("scopes", "at most 100 scopes")
	}
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if !scope.Valid(s) {
			return nil, paramErr("scopes", "invalid scope "+quoteScope(s)+": 1 to 128 printable ASCII characters without space, '\"' or '\\'")
		}
		if p != nil && p.vocabulary != nil && !p.known(s) {
			return nil, paramErr("scopes", "unknown scope "+quoteScope(s))
		}
		out = append(out, s)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// known reports whether s is in the vocabulary: "*" always is, and
// "resource:*" is when the vocabulary has a scope starting "resource:".
func (p *scopePolicy) known(s string) bool {
	if s == "*" {
		return true
	}
	if _, found := slices.BinarySearch(p.vocabulary, s); found {
		return true
	}
	if strings.HasSuffix(s, ":*") {
		pre := s[:len(s)-1]
		i, _ := slices.BinarySearch(p.vocabulary, pre)
		return i < len(p.vocabulary) && strings.HasPrefix(p.vocabulary[i], pre)
	}
	return false
}

// quoteScope shows an offending scope in an error without letting it inject
// anything: printable ASCII stays, everything else becomes '?'. Scopes come
// from whoever creates the key, not from a presented key.
func quoteScope(s string) string {
	const max = 40
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s) && i < max; i++ {
		if c := s[i]; c >= 0x20 && c < 0x7f && c != '"' {
			b.WriteByte(c)
		} else {
			b.WriteByte('?')
		}
	}
	if len(s) > max {
		b.WriteString("...")
	}
	b.WriteByte('"')
	return b.String()
}
