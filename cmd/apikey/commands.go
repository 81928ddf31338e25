package main

import (
	"context"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
)

type runFunc = func(ctx context.Context, c *cli, args []string) error

// listFlag collects a repeated flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// metadataFlag collects repeated k=v pairs.
type metadataFlag map[string]string

func (m metadataFlag) String() string { return "" }
func (m metadataFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want key=value, got %q", v)
	}
	m[k] = val
	return nil
}

// timeFlag is an RFC 3339 time, or a duration from now ("90d", "12h",
// "-30d"): sign says which way. set tells a given zero instant from none.
type timeFlag struct {
	t   time.Time
	set bool
}

func (f *timeFlag) String() string { return "" }
func (f *timeFlag) Set(v string) error {
	f.set = true
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		f.t = t
		return nil
	}
	d, err := parseDuration(v)
	if err != nil {
		return fmt.Errorf("want an RFC 3339 time or a duration such as 90d or -12h: %q", v)
	}
	f.t = time.Now().Add(d)
	return nil
}

// parseDuration is time.ParseDuration with days: "90d", "-30d".
func parseDuration(v string) (time.Duration, error) {
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, err
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	return time.ParseDuration(v)
}

func migrateFlags(*flag.FlagSet) runFunc {
	return func(ctx context.Context, c *cli, _ []string) error {
		before := c.store.before
		if before < 0 {
			var err error
			if before, err = schemaVersion(ctx, c.store.db); err != nil {
				return err
			}
		}
		if err := c.store.migrate(ctx); err != nil {
			return err
		}
		after, err := schemaVersion(ctx, c.store.db)
		if err != nil {
			return err
		}
		return c.message(migrated(before, after))
	}
}

// migrated says what migrate did, from the schema versions before and
// after.
func migrated(before, after int) string {
	switch {
	case before == after:
		return fmt.Sprintf("schema up to date (version %d); nothing to do", after)
	case before == 0:
		return fmt.Sprintf("schema created (version %d)", after)
	}
	return fmt.Sprintf("schema migrated from version %d to %d", before, after)
}

func createFlags(fs *flag.FlagSet) runFunc {
	var (
		p         apikey.CreateParams
		scopes    listFlag
		metadata  = metadataFlag{}
		expiresIn string
		expiresAt timeFlag
	)
	fs.StringVar(&p.Name, "name", "", "name of the key (required)")
	fs.StringVar(&p.OwnerID, "owner", "", "owner (tenant) of the key; none makes a service key")
	fs.Var(&scopes, "scope", "a scope to grant (repeat the flag for more)")
	fs.StringVar(&p.Environment, "env", apikey.EnvLive, "environment: live or test")
	fs.StringVar(&expiresIn, "expires-in", "", "lifetime, e.g. 90d or 720h (default: never, or the maximum lifetime)")
	fs.Var(&expiresAt, "expires-at", "expiry as an RFC 3339 time")
	fs.Var(metadata, "metadata", "metadata key=value (repeat the flag for more)")
	return func(ctx context.Context, c *cli, _ []string) error {
		if p.Name == "" {
			return usagef("--name is required")
		}
		p.Scopes, p.ExpiresAt = scopes, expiresAt.t
		if expiresAt.set && p.ExpiresAt.IsZero() {
			// The zero instant would mean "never" to the Manager.
			return usagef("--expires-at: must be in the future")
		}
		if expiresIn != "" {
			if expiresAt.set {
				return usagef("give --expires-in or --expires-at, not both")
			}
			d, err := parseDuration(expiresIn)
			if err != nil || d <= 0 {
				return usagef("--expires-in: want a positive duration such as 90d")
			}
			p.ExpiresAt = time.Now().Add(d)
		}
		if len(metadata) > 0 {
			p.Metadata = metadata
		}
		k, secret, err := c.m.Create(ctx, p)
		if err != nil {
			return err
		}
		return c.printSecret(k, secret)
	}
}

func listFlags(fs *flag.FlagSet) runFunc {
	var (
		opts           apikey.ListOptions
		status         string
		all            bool
		expiring, idle timeFlag
	)
	fs.StringVar(&opts.OwnerID, "owner", "", "only this owner's keys")
	fs.StringVar(&status, "status", "", "only keys that are active, revoked, expired or disabled")
	fs.BoolVar(&all, "all", false, "include revoked keys")
	fs.IntVar(&opts.Limit, "limit", 100, "at most this many keys (1-1000)")
	fs.StringVar(&opts.After, "after", "", "start after this key ID (the last of the previous page)")
	fs.Var(&expiring, "expiring-before", "only keys expiring before this time or duration from now (14d)")
	fs.Var(&idle, "unused-since", "only keys unused since this time or duration ago (-90d)")
	return func(ctx context.Context, c *cli, _ []string) error {
		if opts.Limit < 1 || opts.Limit > 1000 {
			return usagef("--limit: want 1 to 1000")
		}
		opts.Status, opts.IncludeRevoked = apikey.Status(status), all
		opts.ExpiringBefore, opts.UnusedSince = expiring.t, idle.t
		keys, err := c.m.List(ctx, opts)
		if err != nil {
			return err
		}
		return c.printKeys(keys)
	}
}

func getFlags(*flag.FlagSet) runFunc {
	return func(ctx context.Context, c *cli, args []string) error {
		k, err := c.m.Get(ctx, args[0])
		if err != nil {
			return err
		}
		return c.printKey(k)
	}
}

func updateFlags(fs *flag.FlagSet) runFunc {
	var (
		name     string
		metadata = metadataFlag{}
		clear    bool
	)
	fs.StringVar(&name, "name", "", "new name")
	fs.Var(metadata, "metadata", "replace the metadata with key=value pairs (repeat the flag for more)")
	fs.BoolVar(&clear, "clear-metadata", false, "remove all metadata")
	return func(ctx context.Context, c *cli, args []string) error {
		var p apikey.UpdateParams
		fs.Visit(func(f *flag.Flag) {
			if f.Name == "name" {
				p.Name = &name
			}
		})
		switch {
		case clear && len(metadata) > 0:
			return usagef("give --metadata or --clear-metadata, not both")
		case clear:
			p.Metadata = map[string]string{}
		case len(metadata) > 0:
			p.Metadata = metadata
		}
		if p.Name == nil && p.Metadata == nil {
			return usagef("nothing to update: give --name, --metadata or --clear-metadata")
		}
		k, err := c.m.Update(ctx, args[0], p)
		if err != nil {
			return err
		}
		return c.printKey(k)
	}
}

func disableFlags(*flag.FlagSet) runFunc {
	return func(ctx context.Context, c *cli, args []string) error {
		k, err := c.m.Disable(ctx, args[0])
		if err != nil {
			return err
		}
		return c.printKey(k)
	}
}

func enableFlags(*flag.FlagSet) runFunc {
	return func(ctx context.Context, c *cli, args []string) error {
		k, err := c.m.Enable(ctx, args[0])
		if err != nil {
			return err
		}
		return c.printKey(k)
	}
}

func rotateFlags(fs *flag.FlagSet) runFunc {
	var grace string
	fs.StringVar(&grace, "grace", "0s", "how long the old key keeps working, e.g. 1h or 7d")
	return func(ctx context.Context, c *cli, args []string) error {
		d, err := parseDuration(grace)
		if err != nil || d < 0 {
			return usagef("--grace: want a duration such as 1h or 7d")
		}
		k, secret, err := c.m.Rotate(ctx, args[0], d)
		if err != nil {
			return err
		}
		return c.printSecret(k, secret)
	}
}

func revokeFlags(*flag.FlagSet) runFunc {
	return func(ctx context.Context, c *cli, args []string) error {
		if err := c.m.Revoke(ctx, args[0]); err != nil {
			return err
		}
		k, err := c.m.Get(ctx, args[0])
		if err != nil {
			return err
		}
		return c.printKey(k)
	}
}

func auditFlags(fs *flag.FlagSet) runFunc {
	var (
		q            audit.Query
		action       string
		since, until timeFlag
		oldest       bool
	)
	fs.StringVar(&q.KeyID, "key", "", "only events of this key ID")
	fs.StringVar(&q.OwnerID, "owner", "", "only events of this owner")
	fs.StringVar(&action, "action", "", "only this action, e.g. key.revoked_used")
	fs.Var(&since, "since", "only events at or after this time or duration ago (-24h)")
	fs.Var(&until, "until", "only events before this time or duration")
	fs.IntVar(&q.Limit, "limit", 100, "at most this many events (1-1000)")
	fs.StringVar(&q.After, "after", "", "continue after this event ID (the last of the previous page)")
	fs.BoolVar(&oldest, "oldest-first", false, "oldest events first")
	return func(ctx context.Context, c *cli, _ []string) error {
		if q.Limit < 1 || q.Limit > 1000 {
			return usagef("--limit: want 1 to 1000")
		}
		q.Action, q.Since, q.Until, q.Reverse = audit.Action(action), since.t, until.t, !oldest
		evs, err := c.m.ListAudit(ctx, q)
		if err != nil {
			return err
		}
		return c.printEvents(evs)
	}
}
