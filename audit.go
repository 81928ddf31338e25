package apikey

import (
	"context"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// Audit log
//
// The Manager records an AuditEvent for every management action it
// performs (create, update, disable, enable, rotate, revoke) and for two
// security events of Verify: a revoked key presented (key.revoked_used,
// OWASP's authn_token_reuse, critical) and an expired key presented
// (key.expired_used). Each event goes to the AuditSink (slog by default)
// and, when the Store also implements AuditStore (memstore and sqlstore
// do), into the store, where ListAudit finds it. An event names keys by ID;
// it never holds a key.
//
// The actor, client address and request ID come from the context
// (ContextWithActor; the admin handler sets them, and behind the middleware the
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
)

// auditActions lists every action, in the order above.
func auditActions() []AuditAction {
	return []AuditAction{ActionKeyCreated, ActionKeyUpdated, ActionKeyDisabled, ActionKeyEnabled,
		ActionKeyRotated, ActionKeyRevoked, ActionKeyRevokedUsed, ActionKeyExpiredUsed}
}

// valid reports whether a is one of the actions above.
func (a AuditAction) valid() bool {
	for _, b := range auditActions() {
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
// audit log. Put it in the context with ContextWithActor; the admin handler does.
// Without one, the key in the context (FromContext) is the actor.
type Actor struct {
	Type       string // ActorAPIKey, ActorUser, ActorCLI, ActorSystem, or the host's own
	ID         string // the key ID or user ID
	ClientAddr string // the client's address, as the host sees it
	RequestID  string // the request's correlation ID, if any
}

type actorKey struct{}

// ContextWithActor returns a copy of ctx carrying a, for the audit events of the
// Manager calls made with it.
func ContextWithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// actorFromContext returns the actor of ctx: the one set with ContextWithActor,
// else the API key in ctx (FromContext), else false.
func actorFromContext(ctx context.Context) (Actor, bool) {
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

// ListAudit returns a page of audit events; see AuditQuery. ErrNoAuditStore
// when no store keeps them.
func (m *Manager) ListAudit(ctx context.Context, q AuditQuery) ([]*AuditEvent, error) {
	if m.audit.store == nil {
		return nil, ErrNoAuditStore
	}
	if q.Action != "" && !q.Action.valid() {
		return nil, paramErr("action", "must be an audit action such as key.created or key.revoked_used")
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

// levelCritical is the slog level of critical security events (a revoked
// key presented): above slog.LevelError, as OWASP's CRITICAL.
const levelCritical = slog.LevelError + 4

// slogAuditSink is the AuditSink of NewSlogAuditSink.
type slogAuditSink struct{ logger *slog.Logger }

// NewSlogAuditSink returns an AuditSink writing audit events to l, one
// record per event, named and levelled as the OWASP Logging Vocabulary
// does: authn_token_created (INFO), authn_token_revoked (INFO),
// authn_token_reuse (a revoked key presented: slog.LevelError+4, OWASP's
// CRITICAL), and for the actions the vocabulary lacks authn_token_updated,
// authn_token_disabled, authn_token_enabled, authn_token_rotated (INFO) and
// authn_token_expired (an expired key presented: WARN). Values go through
// the handler's quoting (JSON or text), so they cannot forge log lines. It
// is the default sink, over the Manager's logger (WithLogger).
func NewSlogAuditSink(l *slog.Logger) (AuditSink, error) {
	if l == nil {
		return nil, paramErr("logger", "must not be nil")
	}
	return &slogAuditSink{logger: l}, nil
}

// owaspEvent returns the OWASP Logging Vocabulary name of action and its
// level; see NewSlogAuditSink.
func owaspEvent(action AuditAction) (string, slog.Level) {
	switch action {
	case ActionKeyCreated:
		return "authn_token_created", slog.LevelInfo
	case ActionKeyRevoked:
		return "authn_token_revoked", slog.LevelInfo
	case ActionKeyRevokedUsed:
		return "authn_token_reuse", levelCritical
	case ActionKeyExpiredUsed:
		return "authn_token_expired", slog.LevelWarn
	case ActionKeyUpdated, ActionKeyDisabled, ActionKeyEnabled, ActionKeyRotated:
		return "authn_token_" + string(action[len("key."):]), slog.LevelInfo
	}
	return "authn_token_event", slog.LevelInfo
}

// Audit implements AuditSink.
func (s *slogAuditSink) Audit(ctx context.Context, ev *AuditEvent) {
	name, level := owaspEvent(ev.Action)
	if !s.logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("event_id", ev.ID),
		slog.String("action", string(ev.Action)),
		slog.String("outcome", ev.Outcome),
		slog.Time("time", ev.Time),
		slog.String("actor_type", ev.ActorType),
		slog.String("actor_id", ev.ActorID),
		slog.String("owner_id", ev.OwnerID),
		slog.String("key_id", ev.KeyID),
		slog.String("key_name", ev.KeyName),
		slog.String("client", ev.ClientAddr),
		slog.String("request_id", ev.RequestID),
	}
	if len(ev.Details) > 0 {
		details := make([]any, 0, len(ev.Details))
		for _, k := range slices.Sorted(maps.Keys(ev.Details)) {
			details = append(details, slog.String(k, ev.Details[k]))
		}
		attrs = append(attrs, slog.Group("details", details...))
	}
	s.logger.LogAttrs(ctx, level, name, attrs...)
}

// auditor records the Manager's audit events.
type auditor struct {
	sink    AuditSink  // never nil
	store   AuditStore // nil: no persistent log
	now     func() time.Time
	logger  *slog.Logger
	timeout time.Duration
	used    usedThrottle
}

func newAuditor(c *config, store Store, logger *slog.Logger) (*auditor, error) {
	a := &auditor{now: c.clock, logger: logger, timeout: c.storeTimeout}
	a.used.window, a.used.max = time.Minute, maxThrottled
	switch {
	case c.auditSinkSet && c.auditSink == nil:
		return nil, paramErr("audit_sink", "must not be nil")
	case c.auditSinkSet:
		a.sink = c.auditSink
	default:
		a.sink = &slogAuditSink{logger: logger}
	}
	if c.auditStoreSet {
		a.store = c.auditStore // nil: none
	} else if as, ok := store.(AuditStore); ok {
		a.store = as
	}
	return a, nil
}

// record emits one event about key k. The action has been done (or, for
// the *_used events, refused): a failure to persist the event is logged,
// not returned.
func (a *auditor) record(ctx context.Context, action AuditAction, k *Key, details map[string]string) {
	id, err := uuid.NewV7()
	if err != nil {
		a.logger.LogAttrs(ctx, slog.LevelError, "apikey: generating an audit event id failed",
			slog.String("action", string(action)), slog.String("key_id", k.ID))
		return
	}
	ev := &AuditEvent{
		ID:      id.String(),
		Time:    a.now().UTC().Truncate(time.Microsecond),
		Action:  action,
		Outcome: OutcomeSuccess,
		OwnerID: k.OwnerID,
		KeyID:   k.ID,
		KeyName: k.Name,
		Details: details,
	}
	if action == ActionKeyRevokedUsed || action == ActionKeyExpiredUsed {
		ev.Outcome = OutcomeFailure
	}
	actor, ok := actorFromContext(ctx)
	if !ok {
		actor.Type = ActorSystem
	}
	ev.ActorType, ev.ActorID, ev.ClientAddr, ev.RequestID = actor.Type, actor.ID, actor.ClientAddr, actor.RequestID
	a.sink.Audit(ctx, ev)
	if a.store == nil {
		return
	}
	// The action is done whether or not the caller is still there.
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.timeout)
	defer cancel()
	if err := a.store.AppendAudit(sctx, ev); err != nil {
		a.logger.LogAttrs(ctx, slog.LevelError, "apikey: writing an audit event failed",
			slog.String("event_id", ev.ID), slog.String("action", string(action)),
			slog.String("key_id", k.ID), slog.String("error", err.Error()))
	}
}

// recordUse records a refused use of a key (revoked or expired) found by
// Verify, at most once per key and action per minute: a flood of one
// revoked key cannot flood the log. The next event counts the ones left
// out (details.suppressed).
func (a *auditor) recordUse(ctx context.Context, action AuditAction, k *Key) {
	n, ok := a.used.allow(k.ID+" "+string(action), a.now())
	if !ok {
		return
	}
	var details map[string]string
	if n > 0 {
		details = map[string]string{"suppressed": strconv.Itoa(n)}
	}
	a.record(ctx, action, k, details)
}

// maxThrottled bounds the memory of usedThrottle.
const maxThrottled = 10_000

// usedThrottle lets one event per key and window through.
type usedThrottle struct {
	window time.Duration
	max    int
	mu     sync.Mutex
	seen   map[string]*throttled
}

type throttled struct {
	last       time.Time
	suppressed int
}

// allow reports whether an event for key may be emitted at now, and how
// many were suppressed since the last one.
func (t *usedThrottle) allow(key string, now time.Time) (suppressed int, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if e, found := t.seen[key]; found {
		if now.Sub(e.last) < t.window {
			e.suppressed++
			return 0, false
		}
		n := e.suppressed
		e.last, e.suppressed = now, 0
		return n, true
	}
	if t.seen == nil {
		t.seen = map[string]*throttled{}
	}
	if len(t.seen) >= t.max {
		for k, e := range t.seen {
			if now.Sub(e.last) >= t.window {
				delete(t.seen, k)
			}
		}
		if len(t.seen) >= t.max {
			clear(t.seen) // more fresh keys than the bound: forget rather than grow
		}
	}
	t.seen[key] = &throttled{last: now}
	return 0, true
}

var _ AuditSink = (*slogAuditSink)(nil)

// auditUpdate records what an Update changed: key.updated for the name or
// metadata (details.fields names which), key.disabled or key.enabled for
// the flag.
func (m *Manager) auditUpdate(ctx context.Context, k *Key, p UpdateParams) {
	var fields []string
	if p.Name != nil {
		fields = append(fields, "name")
	}
	if p.Metadata != nil {
		fields = append(fields, "metadata")
	}
	if len(fields) > 0 {
		m.audit.record(ctx, ActionKeyUpdated, k, map[string]string{"fields": strings.Join(fields, ",")})
	}
	switch {
	case p.Disabled == nil:
	case *p.Disabled:
		m.audit.record(ctx, ActionKeyDisabled, k, nil)
	default:
		m.audit.record(ctx, ActionKeyEnabled, k, nil)
	}
}

// auditRotate records a rotation: key.rotated on the old key, key.created
// on its successor, each naming the other.
func (m *Manager) auditRotate(ctx context.Context, old, next *Key, grace time.Duration) {
	m.audit.record(ctx, ActionKeyRotated, old, map[string]string{
		"new_key_id":    next.ID,
		"grace_seconds": strconv.FormatInt(int64(grace/time.Second), 10),
	})
	m.audit.record(ctx, ActionKeyCreated, next, map[string]string{"rotated_from_id": old.ID})
}
