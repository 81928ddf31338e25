package main

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
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
		"bearer " + reader:     http.StatusOK,
		"BEARER  " + reader:    http.StatusOK,
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

// The middleware's 400 for credentials sent twice, and X-API-Key.
func TestReportsHeaders(t *testing.T) {
	m, err := apikey.New(memstore.New(), apikey.WithoutUsageTracking())
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	_, reader, err := m.Create(context.Background(), apikey.CreateParams{Name: "reader", Scopes: []string{"reports:read"}})
	if err != nil {
		t.Fatal(err)
	}
	h := reports(m, slog.New(slog.DiscardHandler))
	for _, tc := range []struct {
		headers [][2]string
		want    int
	}{
		{[][2]string{{"X-API-Key", reader}}, http.StatusOK},
		{[][2]string{{"X-API-Key", reader}, {"Authorization", "Bearer " + reader}}, http.StatusBadRequest},
		{[][2]string{{"Authorization", "Bearer " + reader}, {"Authorization", "Bearer " + reader}}, http.StatusBadRequest},
	} {
		r := httptest.NewRequest(http.MethodGet, "/reports", nil)
		for _, kv := range tc.headers {
			r.Header.Add(kv[0], kv[1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%d headers: status %d, want %d", len(tc.headers), w.Code, tc.want)
		}
	}
}

// The example runs beside the quickstart: its default port is another.
func TestDefaultAddrIsNotTheQuickstarts(t *testing.T) {
	src, err := os.ReadFile("../quickstart/main.go")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`flag\.String\("addr", "([^"]+)"`).FindSubmatch(src)
	if m == nil {
		t.Fatal("no -addr default in the quickstart")
	}
	if string(m[1]) == defaultAddr {
		t.Errorf("verify listens on the quickstart's %s by default", m[1])
	}
}
