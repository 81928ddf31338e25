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
	"github.com/keyward/apikey/audit"
)

// Audit log
//
// The Manager records an audit.Event for every management action it
// performs (create, update, disable, enable, rotate, revoke) and for two
// security events of Verify: a revoked key presented (key.revoked_used,
// OWASP's authn_token_reuse, critical) and an expired key presented
// (key.expired_used); and for a key reported leaked (key.leaked, see
// ReportLeak). Each event goes to the audit.Sink (slog by default)
// and, when the Store also implements audit.Store (memstore and sqlstore
// do), into the store, where ListAudit finds it. An event names keys by ID;
// it never holds a key.
//
// The actor, client address and request ID come from the context
// (audit.ContextWithActor; the admin handler sets them, and behind the middleware the
// key in the context is the actor). Verify's events carry them only when
// the context passed to Verify has them: the middleware does not add them,
// to keep the success path free of work; its LogFailures log names the
// client of every refusal.

// actorFromContext returns the actor of ctx: the one set with audit.ContextWithActor,
// else the API key in ctx (FromContext), else false.
func actorFromContext(ctx context.Context) (audit.Actor, bool) {
	if a, ok := audit.ActorFromContext(ctx); ok {
		return a, true
	}
	if k, ok := FromContext(ctx); ok {
		return audit.Actor{Type: audit.ActorAPIKey, ID: k.ID}, true
	}
	return audit.Actor{}, false
}

// ListAudit returns a page of audit events; see audit.Query. ErrNoAuditStore
// when no store keeps them.
func (m *Manager) ListAudit(ctx context.Context, q audit.Query) ([]*audit.Event, error) {
	if m.audit.store == nil {
		return nil, ErrNoAuditStore
	}
	if q.Action != "" && !q.Action.Valid() {
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

// slogAuditSink is the audit.Sink of NewSlogAuditSink.
type slogAuditSink struct{ logger *slog.Logger }

// NewSlogAuditSink returns an audit.Sink writing audit events to l, one
// record per event, named and levelled as the OWASP Logging Vocabulary
// does: authn_token_created (INFO), authn_token_revoked (INFO),
// authn_token_reuse (a revoked key presented: slog.LevelError+4, OWASP's
// CRITICAL), and for the actions the vocabulary lacks authn_token_updated,
// authn_token_disabled, authn_token_enabled, authn_token_rotated (INFO) and
// authn_token_expired (an expired key presented: WARN), authn_token_leaked
// (a key reported leaked: WARN). The record's time
// is the event's (one time per line, no time attribute). Values go through
// the handler's quoting (JSON or text), so they cannot forge log lines. It
// is the default sink, over the Manager's logger (WithLogger).
func NewSlogAuditSink(l *slog.Logger) (audit.Sink, error) {
	if l == nil {
		return nil, paramErr("logger", "must not be nil")
	}
	return &slogAuditSink{logger: l}, nil
}

// owaspEvent returns the OWASP Logging Vocabulary name of action and its
// level; see NewSlogAuditSink.
func owaspEvent(action audit.Action) (string, slog.Level) {
	switch action {
	case audit.KeyCreated:
		return "authn_token_created", slog.LevelInfo
	case audit.KeyRevoked:
		return "authn_token_revoked", slog.LevelInfo
	case audit.KeyRevokedUsed:
		return "authn_token_reuse", levelCritical
	case audit.KeyExpiredUsed:
		return "authn_token_expired", slog.LevelWarn
	case audit.KeyLeaked:
		return "authn_token_leaked", slog.LevelWarn
	case audit.KeyUpdated, audit.KeyDisabled, audit.KeyEnabled, audit.KeyRotated:
		return "authn_token_" + string(action[len("key."):]), slog.LevelInfo
	}
	return "authn_token_event", slog.LevelInfo
}

// Audit implements audit.Sink.
func (s *slogAuditSink) Audit(ctx context.Context, ev *audit.Event) {
	name, level := owaspEvent(ev.Action)
	if !s.logger.Enabled(ctx, level) {
		return
	}
	attrs := []slog.Attr{
		slog.String("event_id", ev.ID),
		slog.String("action", string(ev.Action)),
		slog.String("outcome", ev.Outcome),
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
	// The record's own time is the event's: one time per line, the one the
	// store keeps (the event's time as an attribute too gave two "time"
	// keys, and a JSON line that decoders read differently).
	r := slog.NewRecord(ev.Time, level, name, 0)
	r.AddAttrs(attrs...)
	_ = s.logger.Handler().Handle(ctx, r) // a handler's error: nowhere better to report it
}

// auditor records the Manager's audit events.
type auditor struct {
	sink    audit.Sink  // never nil
	store   audit.Store // nil: no persistent log
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
	} else if as, ok := store.(audit.Store); ok {
		a.store = as
	}
	return a, nil
}

// record emits one event about key k. The action has been done (or, for
// the *_used events, refused): a failure to persist the event is logged,
// not returned.
func (a *auditor) record(ctx context.Context, action audit.Action, k *Key, details map[string]string) {
	id, err := uuid.NewV7()
	if err != nil {
		a.logger.LogAttrs(ctx, slog.LevelError, "apikey: generating an audit event id failed",
			slog.String("action", string(action)), slog.String("key_id", k.ID))
		return
	}
	ev := &audit.Event{
		ID:      id.String(),
		Time:    a.now().UTC().Truncate(time.Microsecond),
		Action:  action,
		Outcome: audit.Success,
		OwnerID: k.OwnerID,
		KeyID:   k.ID,
		KeyName: k.Name,
		Details: details,
	}
	if action == audit.KeyRevokedUsed || action == audit.KeyExpiredUsed {
		ev.Outcome = audit.Failure
	}
	actor, ok := actorFromContext(ctx)
	if !ok {
		actor.Type = audit.ActorSystem
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
func (a *auditor) recordUse(ctx context.Context, action audit.Action, k *Key) {
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

var _ audit.Sink = (*slogAuditSink)(nil)

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
		m.audit.record(ctx, audit.KeyUpdated, k, map[string]string{"fields": strings.Join(fields, ",")})
	}
	switch {
	case p.Disabled == nil:
	case *p.Disabled:
		m.audit.record(ctx, audit.KeyDisabled, k, nil)
	default:
		m.audit.record(ctx, audit.KeyEnabled, k, nil)
	}
}

// auditRotate records a rotation: key.rotated on the old key, key.created
// on its successor, each naming the other.
func (m *Manager) auditRotate(ctx context.Context, old, next *Key, grace time.Duration) {
	m.audit.record(ctx, audit.KeyRotated, old, map[string]string{
		"new_key_id":    next.ID,
		"grace_seconds": strconv.FormatInt(int64(grace/time.Second), 10),
	})
	m.audit.record(ctx, audit.KeyCreated, next, map[string]string{"rotated_from_id": old.ID})
}
