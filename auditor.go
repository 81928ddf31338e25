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

// LevelCritical is the slog level of critical security events (a revoked
// key presented): above slog.LevelError, as OWASP's CRITICAL.
const LevelCritical = slog.LevelError + 4

// SlogAuditSink writes audit events to a slog.Logger, one record per event,
// named and levelled as the OWASP Logging Vocabulary does:
// authn_token_created (INFO), authn_token_revoked (INFO),
// authn_token_reuse (a revoked key presented: LevelCritical), and for the
// actions the vocabulary lacks authn_token_updated, authn_token_disabled,
// authn_token_enabled, authn_token_rotated (INFO) and authn_token_expired
// (an expired key presented: WARN), authn_token_leaked (a key reported
// leaked: WARN). The record's time is the event's (one time per line, no
// time attribute). Values go through the handler's quoting (JSON or text),
// so they cannot forge log lines.
type SlogAuditSink struct{ logger *slog.Logger }

// NewSlogAuditSink returns a sink writing to l.
func NewSlogAuditSink(l *slog.Logger) (*SlogAuditSink, error) {
	if l == nil {
		return nil, paramErr("logger", "must not be nil")
	}
	return &SlogAuditSink{logger: l}, nil
}

// OWASPEvent returns the OWASP Logging Vocabulary name of action and its
// level; see SlogAuditSink.
func OWASPEvent(action AuditAction) (string, slog.Level) {
	switch action {
	case ActionKeyCreated:
		return "authn_token_created", slog.LevelInfo
	case ActionKeyRevoked:
		return "authn_token_revoked", slog.LevelInfo
	case ActionKeyRevokedUsed:
		return "authn_token_reuse", LevelCritical
	case ActionKeyExpiredUsed:
		return "authn_token_expired", slog.LevelWarn
	case ActionKeyLeaked:
		return "authn_token_leaked", slog.LevelWarn
	case ActionKeyUpdated, ActionKeyDisabled, ActionKeyEnabled, ActionKeyRotated:
		return "authn_token_" + string(action[len("key."):]), slog.LevelInfo
	}
	return "authn_token_event", slog.LevelInfo
}

// Audit implements AuditSink.
func (s *SlogAuditSink) Audit(ctx context.Context, ev *AuditEvent) {
	name, level := OWASPEvent(ev.Action)
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
		a.sink = &SlogAuditSink{logger: logger}
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
	actor, ok := ActorFromContext(ctx)
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

var _ AuditSink = (*SlogAuditSink)(nil)

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
