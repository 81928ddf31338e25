package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

func TestReports(t *testing.T) {
	ctx := context.Background()
	m, err := apikey.New(memstore.New(), apikey.WithoutUsageTracking())
	if err != nil {
		t.Fatal(err)
	}
	_, reader, err := m.Create(ctx, apikey.CreateParams{Name: "reader", Scopes: []string{"reports:read"}})
	if err != nil {
		t.Fatal(err)
	}
	_, other, err := m.Create(ctx, apikey.CreateParams{Name: "other", Scopes: []string{"billing:read"}})
	if err != nil {
		t.Fatal(err)
	}
	h := reports(m, slog.New(slog.DiscardHandler))
	for auth, want := range map[string]int{
		"Bearer " + reader:     http.StatusOK,
		"Bearer " + other:      http.StatusForbidden,
		"Bearer sk_live_nope":  http.StatusUnauthorized,
		"":                     http.StatusUnauthorized,
		"Basic " + reader[:10]: http.StatusUnauthorized,
	} {
		r := httptest.NewRequest(http.MethodGet, "/reports", nil)
		r.Header.Set("Authorization", auth)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("%.20q: status %d, want %d", auth, w.Code, want)
		}
	}
	m.Close()
	r := httptest.NewRequest(http.MethodGet, "/reports", nil)
	r.Header.Set("Authorization", "Bearer "+reader)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("closed manager: status %d, want 503", w.Code)
	}
}
