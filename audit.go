package apikey

import (
	"context"
	"time"
)

// Audit log
//
// The Manager records an AuditEvent for every management action it
// performs (create, update, disable, enable, rotate, revoke) and for two
// security events of Verify: a revoked key presented (key.revoked_used,
// OWASP's authn_token_reuse, critical) and an expired key presented
// (key.expired_used); and for a key reported leaked (key.leaked, see
// ReportLeak). Each event goes to the AuditSink (slog by default)
// and, when the Store also implements AuditStore (memstore and sqlstore
// do), into the store, where ListAudit finds it. An event names keys by ID;
// it never holds a key.
//
// The actor, client address and request ID come from the context
// (WithActor; the admin handler sets them, and behind the middleware the
// key in the context is the actor). Verify's events carry them only when
// the context passed to Verify has them: the middleware does not add them,
// to keep the success path free of work; its LogFailures log names the
// client of every refusal.

// AuditAction names what happened.
type AuditAction string

const (
	ActionKeyCreated     AuditAction = "key.created"
	ActionKeyUpdated     AuditAction = "key.updated" // name or metadata
	ActionKeyDisabled    AuditAction = "key.disabled"
	ActionKeyEnabled     AuditAction = "key.enabled"
	ActionKeyRotated     AuditAction = "key.rotated" // on the old key; the new key gets key.created
	ActionKeyRevoked     AuditAction = "key.revoked"
	ActionKeyRevokedUsed AuditAction = "key.revoked_used" // a revoked key was presented
	ActionKeyExpiredUsed AuditAction = "key.expired_used" // an expired key was presented
	ActionKeyLeaked      AuditAction = "key.leaked"       // a key was reported leaked (see ReportLeak)
)

// AuditActions lists every action, in the order above.
func AuditActions() []AuditAction {
	return []AuditAction{ActionKeyCreated, ActionKeyUpdated, ActionKeyDisabled, ActionKeyEnabled,
		ActionKeyRotated, ActionKeyRevoked, ActionKeyRevokedUsed, ActionKeyExpiredUsed, ActionKeyLeaked}
}

// Valid reports whether a is one of the actions above.
func (a AuditAction) Valid() bool {
	for _, b := range AuditActions() {
		if a == b {
			return true
		}
	}
	return false
}

// Outcomes of an AuditEvent.
const (
	OutcomeSuccess = "success" // the action was done
	OutcomeFailure = "failure" // the request was refused (key.revoked_used, key.expired_used)
)

// Actor types: who acted.
const (
	ActorAPIKey = "api_key" // an API key, by ID (the default behind the middleware)
	ActorUser   = "user"    // a user of the host's own authentication (an admin.Authorizer)
	ActorCLI    = "cli"     // an operator at the command line (cmd/apikey)
	ActorSystem = "system"  // the service itself; also when nothing else is known
)

// Actor is who performs a management action and from where, for the
// audit log. Put it in the context with WithActor; the admin handler does.
// Without one, the key in the context (FromContext) is the actor.
type Actor struct {
	Type       string // ActorAPIKey, ActorUser, ActorCLI, ActorSystem, or the host's own
	ID         string // the key ID or user ID
	ClientAddr string // the client's address, as the host sees it
	RequestID  string // the request's correlation ID, if any
}

type actorKey struct{}

// WithActor returns a copy of ctx carrying a, for the audit events of the
// Manager calls made with it.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFromContext returns the actor of ctx: the one set with WithActor,
// else the API key in ctx (FromContext), else false.
func ActorFromContext(ctx context.Context) (Actor, bool) {
	if a, ok := ctx.Value(actorKey{}).(Actor); ok {
		return a, true
	}
	if k, ok := FromContext(ctx); ok {
		return Actor{Type: ActorAPIKey, ID: k.ID}, true
	}
	return Actor{}, false
}

// AuditEvent is one entry of the audit log. It never holds a key.
type AuditEvent struct {
	ID         string            `json:"id"` // UUIDv7: IDs sort in time order
	Time       time.Time         `json:"time"`
	Action     AuditAction       `json:"action"`
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

// AuditSink receives every audit event, e.g. to forward it to a SIEM. It
// is called synchronously after the action; it must be safe for concurrent
// use and should not block for long.
type AuditSink interface {
	Audit(ctx context.Context, ev *AuditEvent)
}

// AuditStore persists audit events. A Store that also implements it keeps
// the Manager's audit log; store/storetest checks it.
//
// The contract is the Store's: context first, ErrNotFound never (an empty
// list is not an error), strings verbatim, times in UTC with microsecond
// precision, safe for concurrent use. Events passed in belong to the
// caller.
type AuditStore interface {
	// AppendAudit adds an event. ErrConflict if its ID exists.
	AppendAudit(ctx context.Context, ev *AuditEvent) error
	// ListAudit returns at most q.Limit events (q.Limit > 0) matching q,
	// in ascending ID order with ID > q.After, or with q.Reverse in
	// descending ID order with ID < q.After.
	ListAudit(ctx context.Context, q AuditQuery) ([]*AuditEvent, error)
}

// AuditQuery selects and pages audit events. Empty fields do not filter.
type AuditQuery struct {
	OwnerID string
	KeyID   string
	Action  AuditAction
	Since   time.Time // events at or after Since
	Until   time.Time // events before Until
	// Reverse lists newest first.
	Reverse bool
	// Limit is the page size: 0 means 100; the Manager caps it at 1000.
	Limit int
	// After is the ID of the previous page's last event.
	After string
}

// WithAuditSink sets where audit events are sent besides the store. The
// default is SlogAuditSink over the Manager's logger (WithLogger), which
// discards unless a logger is set.
func WithAuditSink(s AuditSink) Option {
	return func(c *config) { c.auditSink, c.auditSinkSet = s, true }
}

// WithAuditStore sets where audit events are persisted, instead of the
// Store (when it implements AuditStore). nil keeps no audit log in any
// store.
func WithAuditStore(s AuditStore) Option {
	return func(c *config) { c.auditStore, c.auditStoreSet = s, true }
}

// ListAudit returns a page of audit events; see AuditQuery. ErrNoAuditStore
// when no store keeps them.
func (m *Manager) ListAudit(ctx context.Context, q AuditQuery) ([]*AuditEvent, error) {
	if m.audit.store == nil {
		return nil, ErrNoAuditStore
	}
	if q.Action != "" && !q.Action.Valid() {
		return nil, paramErr("action", "must be one of the audit actions (key.created, key.revoked, ...)")
	}
	var err error
	if q.Limit, err = pageLimit(q.Limit); err != nil {
		return nil, err
	}
	evs, err := m.audit.store.ListAudit(ctx, q)
	if err != nil {
		return nil, storeErr("list audit", err)
	}
	return evs, nil
}
