package admin

import (
	"net/http"

	"github.com/keyward/apikey/audit"
)

// listAudit answers GET /audit-events: the caller's owner's events (every
// owner's, or owner_id's, for a caller of all owners), newest first.
func (h *handler) listAudit(w http.ResponseWriter, r *http.Request, p *Principal) {
	aq, limit, e := auditQuery(r, p)
	if e != nil {
		h.write(w, r, e)
		return
	}
	aq.Limit = limit + 1
	evs, err := h.m.ListAudit(r.Context(), aq)
	if err != nil {
		h.write(w, r, fromError(err))
		return
	}
	same := func(ev *audit.Event) *audit.Event { return ev }
	respond(w, http.StatusOK, paginate(evs, limit, func(ev *audit.Event) string { return ev.ID }, same))
}

func auditQuery(r *http.Request, p *Principal) (aq audit.Query, limit int, e *apiError) {
	q, e := queryOf(r, "key_id", "action", "since", "until", "limit", "cursor", "owner_id")
	if e != nil {
		return aq, 0, e
	}
	aq.Reverse = true
	aq.KeyID = q.get("key_id")
	aq.Action = audit.Action(q.get("action")) // an unknown one is the Manager's to refuse
	if aq.OwnerID, e = ownerFilter(q, p); e == nil {
		if limit, e = q.limit(); e == nil {
			if aq.After, e = q.cursor(); e == nil {
				if aq.Since, e = q.time("since"); e == nil {
					aq.Until, e = q.time("until")
				}
			}
		}
	}
	return aq, limit, e
}
