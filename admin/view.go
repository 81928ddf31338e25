package admin

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/keyward/apikey"
)

// keyView is a key as the API shows it: masked (prefix only), every field
// present, null for times that did not happen.
type keyView struct {
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
	// Key is the key itself: only in the answers of create and rotate.
	Key string `json:"key,omitempty"`
}

func (h *handler) view(k *apikey.Key) *keyView {
	v := &keyView{
		ID: k.ID, Name: k.Name, Prefix: k.Prefix, OwnerID: k.OwnerID, Environment: k.Environment,
		Scopes: k.Scopes, Metadata: k.Metadata, Status: k.Status(h.cfg.clock()), Disabled: k.Disabled,
		CreatedAt: k.CreatedAt.UTC(), ExpiresAt: optTime(k.ExpiresAt), RevokedAt: optTime(k.RevokedAt),
		LastUsedAt: optTime(k.LastUsedAt), RequestCount: k.RequestCount,
		RotatedFromID: optString(k.RotatedFromID), RotatedToID: optString(k.RotatedToID),
		Plan: k.Plan, Quota: k.Quota,
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

// page is a list answer: {"data": […], "next_cursor": "…" or null}.
type page[T any] struct {
	Data       []T     `json:"data"`
	NextCursor *string `json:"next_cursor"`
}

// respond writes v as JSON with status.
func respond(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}

// reply answers with k (status 200, or 201 with the key itself after
// create and rotate) or with err.
func (h *handler) reply(w http.ResponseWriter, r *http.Request, k *apikey.Key, secret string, err error) {
	if err != nil {
		h.write(w, r, fromError(err))
		return
	}
	v, status := h.view(k), http.StatusOK
	if secret != "" {
		v.Key, status = secret, http.StatusCreated
	}
	respond(w, status, v)
}

// paginate is a list answer from a page fetched with one item more than
// limit: that item, if there, says a next page exists.
func paginate[T, V any](items []T, limit int, id func(T) string, view func(T) V) page[V] {
	out := page[V]{Data: make([]V, 0, min(len(items), limit))}
	for i, item := range items {
		if i == limit {
			next := id(items[i-1])
			out.NextCursor = &next
			break
		}
		out.Data = append(out.Data, view(item))
	}
	return out
}
