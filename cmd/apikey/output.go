package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
)

// keyJSON is a key as --json prints it, in the shape of the REST API's
// answers: every field present, null for times and links that did not
// happen; the key itself only after create and rotate.
type keyJSON struct {
	ID            string            `json:"id"`
	Name          string            `json:"name"`
	Prefix        string            `json:"prefix"`
	OwnerID       string            `json:"owner_id"`
	Environment   string            `json:"environment"`
	Scopes        []string          `json:"scopes"`
	Metadata      map[string]string `json:"metadata"`
	Status        apikey.Status     `json:"status"`
	Disabled      bool              `json:"disabled"`
	CreatedAt     time.Time         `json:"created_at"`
	ExpiresAt     *time.Time        `json:"expires_at"`
	RevokedAt     *time.Time        `json:"revoked_at"`
	LastUsedAt    *time.Time        `json:"last_used_at"`
	RequestCount  int64             `json:"request_count"`
	RotatedFromID *string           `json:"rotated_from_id"`
	RotatedToID   *string           `json:"rotated_to_id"`
	Plan          string            `json:"plan,omitempty"`
	RateLimit     *limitJSON        `json:"rate_limit,omitempty"`
	Quota         *apikey.Quota     `json:"quota,omitempty"`
	Secret        string            `json:"key,omitempty"`
}

// limitJSON is a rate limit as the REST API writes it.
type limitJSON struct {
	Requests      int     `json:"requests"`
	PeriodSeconds float64 `json:"period_seconds"`
	Burst         int     `json:"burst"`
}

func toJSON(k *apikey.Key, secret string) keyJSON {
	v := keyJSON{
		ID: k.ID, Name: k.Name, Prefix: k.Prefix, OwnerID: k.OwnerID, Environment: k.Environment,
		Scopes: k.Scopes, Metadata: k.Metadata, Status: k.Status(time.Now()), Disabled: k.Disabled,
		CreatedAt: k.CreatedAt.UTC(), ExpiresAt: optTime(k.ExpiresAt), RevokedAt: optTime(k.RevokedAt),
		LastUsedAt: optTime(k.LastUsedAt), RequestCount: k.RequestCount,
		RotatedFromID: optString(k.RotatedFromID), RotatedToID: optString(k.RotatedToID),
		Plan: k.Plan, Quota: k.Quota, Secret: secret,
	}
	if l := k.RateLimit; l != (apikey.Limit{}) {
		v.RateLimit = &limitJSON{Requests: l.Requests, PeriodSeconds: l.Period.Seconds(), Burst: l.Burst}
	}
	if v.Scopes == nil {
		v.Scopes = []string{}
	}
	if v.Metadata == nil {
		v.Metadata = map[string]string{}
	}
	return v
}

func optTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func optString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (c *cli) printJSON(v any) error {
	enc := json.NewEncoder(c.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func (c *cli) message(msg string) error {
	if c.g.json {
		return c.printJSON(map[string]string{"result": msg})
	}
	_, err := fmt.Fprintln(c.stdout, msg)
	return err
}

// printSecret prints a new key's record and, once, the key.
func (c *cli) printSecret(k *apikey.Key, secret string) error {
	if c.g.json {
		return c.printJSON(toJSON(k, secret))
	}
	if err := c.printKey(k); err != nil {
		return err
	}
	fmt.Fprintln(c.stderr, "\nThe key, shown only this once (store it now; it cannot be recovered):")
	_, err := fmt.Fprintln(c.stdout, secret)
	return err
}

// printKey prints one key, a field a line.
func (c *cli) printKey(k *apikey.Key) error {
	if c.g.json {
		return c.printJSON(toJSON(k, ""))
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	row := func(name, value string) { fmt.Fprintf(tw, "%s\t%s\n", name, clean(value)) }
	row("ID", k.ID)
	row("Name", k.Name)
	row("Prefix", k.Prefix)
	row("Owner", orDash(k.OwnerID))
	row("Environment", k.Environment)
	row("Status", string(k.Status(time.Now())))
	row("Scopes", orDash(strings.Join(k.Scopes, " ")))
	row("Created", when(k.CreatedAt))
	row("Expires", when(k.ExpiresAt))
	row("Revoked", when(k.RevokedAt))
	row("Last used", when(k.LastUsedAt))
	row("Requests", strconv.FormatInt(k.RequestCount, 10))
	if k.RotatedFromID != "" {
		row("Rotated from", k.RotatedFromID)
	}
	if k.RotatedToID != "" {
		row("Rotated to", k.RotatedToID)
	}
	for _, name := range sortedKeys(k.Metadata) {
		row("Metadata "+name, k.Metadata[name])
	}
	return tw.Flush()
}

func (c *cli) printKeys(keys []*apikey.Key) error {
	if c.g.json {
		out := make([]keyJSON, len(keys))
		for i, k := range keys {
			out[i] = toJSON(k, "")
		}
		return c.printJSON(out)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tPREFIX\tOWNER\tENV\tSTATUS\tSCOPES\tCREATED\tEXPIRES\tLAST USED\tREQUESTS")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\n", k.ID, clean(k.Name), k.Prefix, clean(orDash(k.OwnerID)),
			k.Environment, k.Status(time.Now()), orDash(strings.Join(k.Scopes, " ")),
			when(k.CreatedAt), when(k.ExpiresAt), when(k.LastUsedAt), k.RequestCount)
	}
	return tw.Flush()
}

func (c *cli) printEvents(evs []*audit.Event) error {
	if c.g.json {
		if evs == nil {
			evs = []*audit.Event{}
		}
		return c.printJSON(evs)
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tACTION\tOUTCOME\tKEY\tNAME\tOWNER\tACTOR\tCLIENT\tREQUEST\tDETAILS")
	for _, ev := range evs {
		var details []string
		for _, k := range sortedKeys(ev.Details) {
			details = append(details, k+"="+ev.Details[k])
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", when(ev.Time), ev.Action, ev.Outcome, clean(ev.KeyID),
			clean(ev.KeyName), clean(orDash(ev.OwnerID)), clean(ev.ActorType+":"+ev.ActorID), clean(orDash(ev.ClientAddr)),
			clean(orDash(ev.RequestID)), clean(orDash(strings.Join(details, " "))))
	}
	return tw.Flush()
}

func when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// clean makes a stored string safe for a terminal table: control
// characters (tabs, newlines, escape sequences) become U+FFFD.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return '\uFFFD'
		}
		return r
	}, s)
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }
