// Package audit is the vocabulary of the apikey Manager's audit log: the
// events it records for every management action (create, update, disable,
// enable, rotate, revoke), for two security events of Verify (a revoked or
// an expired key presented) and for a key reported leaked; who acted
// (Actor); and the interfaces that receive them (Sink, e.g. to forward
// them to a SIEM) and keep them (Store, implemented by store/memstore and
// store/sqlstore). An event names keys by ID; it never holds a key.
//
// A Manager sends events to apikey.WithAuditSink's Sink (by default
// apikey.NewSlogAuditSink over its logger) and to its Store when that is
// also a Store of this package (or apikey.WithAuditStore's); Manager.ListAudit
// reads them back.
package audit

import (
	"context"
	"time"
)

// Action names what happened.
type Action string

const (
	KeyCreated     Action = "key.created"
	KeyUpdated     Action = "key.updated" // name or metadata
	KeyDisabled    Action = "key.disabled"
	KeyEnabled     Action = "key.enabled"
	KeyRotated     Action = "key.rotated" // on the old key; the new key gets key.created
	KeyRevoked     Action = "key.revoked"
	KeyRevokedUsed Action = "key.revoked_used" // a revoked key was presented
	KeyExpiredUsed Action = "key.expired_used" // an expired key was presented
	KeyLeaked      Action = "key.leaked"       // a key was reported leaked (see apikey.Manager.ReportLeak)
)

// Actions lists every action, in the order above.
func Actions() []Action {
	return []Action{KeyCreated, KeyUpdated, KeyDisabled, KeyEnabled,
		KeyRotated, KeyRevoked, KeyRevokedUsed, KeyExpiredUsed, KeyLeaked}
}

// Valid reports whether a is one of the actions above.
func (a Action) Valid() bool {
	for _, b := range Actions() {
		if a == b {
			return true
		}
	}
	return false
}

// Outcomes of an Event.
const (
	Success = "success" // the action was done
	Failure = "failure" // the request was refused (key.revoked_used, key.expired_used)
)

// Actor types: who acted.
const (
	ActorAPIKey = "api_key" // an API key, by ID (the default behind the middleware)
	ActorUser   = "user"    // a user of the host's own authentication (an admin.Authorizer)
	ActorCLI    = "cli"     // an operator at the command line (cmd/apikey)
	ActorSystem = "system"  // the service itself; also when nothing else is known
)

// Actor is who performs a management action and from where, for the
// audit log. Put it in the context with ContextWithActor; the admin handler
// does. Without one, the key in the context (apikey.FromContext) is the
// actor.
type Actor struct {
	Type       string // ActorAPIKey, ActorUser, ActorCLI, ActorSystem, or the host's own
	ID         string // the key ID or user ID
	ClientAddr string // the client's address, as the host sees it
	RequestID  string // the request's correlation ID, if any
}

type actorKey struct{}

// ContextWithActor returns a copy of ctx carrying a, for the audit events
// of the Manager calls made with it.
func ContextWithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFromContext returns the actor set with ContextWithActor, if any.
func ActorFromContext(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// Event is one entry of the audit log. It never holds a key.
type Event struct {
	ID         string            `json:"id"` // UUIDv7: IDs sort in time order
	Time       time.Time         `json:"time"`
	Action     Action            `json:"action"`
	Outcome    string            `json:"outcome"`
	ActorType  string            `json:"actor_type"`
	ActorID    string            `json:"actor_id"`
	OwnerID    string            `json:"owner_id"`
	KeyID      string            `json:"key_id"`
	KeyName    string            `json:"key_name"`
	ClientAddr string            `json:"client_addr"`
	RequestID  string            `json:"request_id"`
	Details    map[string]string `json:"details,omitempty"` // e.g. new_key_id of a rotation; never a key
}

// Sink receives every audit event, e.g. to forward it to a SIEM. It
// is called synchronously after the action; it must be safe for concurrent
// use and should not block for long.
type Sink interface {
	Audit(ctx context.Context, ev *Event)
}

// Store persists audit events. A Store that also implements it keeps
// the Manager's audit log; store/storetest checks it.
//
// The contract is the Store's: context first, apikey.ErrNotFound never (an empty
// list is not an error), strings verbatim, times in UTC with microsecond
// precision, safe for concurrent use. Events passed in belong to the
// caller.
type Store interface {
	// AppendAudit adds an event. apikey.ErrConflict if its ID exists.
	AppendAudit(ctx context.Context, ev *Event) error
	// ListAudit returns at most q.Limit events (q.Limit > 0) matching q,
	// in ascending ID order with ID > q.After, or with q.Reverse in
	// descending ID order with ID < q.After.
	ListAudit(ctx context.Context, q Query) ([]*Event, error)
}

// Query selects and pages audit events. Empty fields do not filter.
type Query struct {
	OwnerID string
	KeyID   string
	Action  Action
	Since   time.Time // events at or after Since
	Until   time.Time // events before Until
	// Reverse lists newest first.
	Reverse bool
	// Limit is the page size: 0 means 100; the Manager caps it at 1000.
	Limit int
	// After is the ID of the previous page's last event.
	After string
}
