// Package scope holds the rule of what a scope is, for package apikey (keys'
// grants, routes' requirements) and package admin (requests) alike.
package scope

// MaxLen is the longest scope accepted, in bytes.
const MaxLen = 128

// Valid reports whether s is a scope a key may be granted or a route may
// require: a scope-token of RFC 6749 §3.3 of at most MaxLen bytes.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x21 || c == '"' || c == '\\' || c > 0x7e {
			return false
		}
	}
	return true
}
