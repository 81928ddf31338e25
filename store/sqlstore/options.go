package sqlstore

import "fmt"

// Option configures a Store (and DDL).
type Option func(*config)

type config struct {
	prefix string
}

// WithTablePrefix puts prefix before every table and index name, e.g.
// "auth_" for auth_api_keys. It must match [A-Za-z_][A-Za-z0-9_]{0,31}: it
// is the only text this package interpolates into SQL.
func WithTablePrefix(prefix string) Option {
	return func(c *config) { c.prefix = prefix }
}

func newConfig(opts []Option) (config, error) {
	var c config
	for _, opt := range opts {
		opt(&c)
	}
	if !validPrefix(c.prefix) {
		return c, fmt.Errorf("sqlstore: table prefix %q must match [A-Za-z_][A-Za-z0-9_]{0,31}", c.prefix)
	}
	return c, nil
}

// validPrefix reports whether p is empty or matches
// [A-Za-z_][A-Za-z0-9_]{0,31}.
func validPrefix(p string) bool {
	if len(p) > 32 {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		letter := c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
		if !letter && (i == 0 || c < '0' || c > '9') {
			return false
		}
	}
	return true
}
