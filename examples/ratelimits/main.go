// Command ratelimits shows plan-based rate limits, a limit shared by all the
// keys of an organization, and route limits, as the reference webhook
// services configure them:
//
//   - plans: free 60/min, starter 120, team 300, enterprise 1000 per key;
//   - organizations on the starter plan share 120/min across their keys;
//   - POST /webhooks/jobs: 100/s per key (job creation);
//   - POST /endpoints/{id}/test: 10/min per endpoint.
//
// It prints a free-plan key and a curl loop that shows X-RateLimit-Remaining
// falling to 0, then a 429 with Retry-After.
//
//	go run ./examples/ratelimits
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/memstore"
)

// plans are the reference services' per-minute plans.
var plans = map[string]apikey.Limit{
	"free":       apikey.PerMinute(60),
	"starter":    apikey.PerMinute(120),
	"team":       apikey.PerMinute(300),
	"enterprise": apikey.PerMinute(1000),
}

// orgPlans would come from your billing data; it must be a fast lookup.
var orgPlans = map[string]string{"org_acme": "starter"}

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "address to listen on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *addr, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string, out io.Writer) error {
	m, err := apikey.New(memstore.New(),
		apikey.WithPlans(plans),
		apikey.WithOwnerPlan(func(org string) string { return orgPlans[org] }))
	if err != nil {
		return err
	}
	defer m.Close()
	_, secret, err := m.Create(ctx, apikey.CreateParams{Name: "free tier", OwnerID: "org_hobby", Plan: "free",
		Scopes: []string{"webhooks:write"}})
	if err != nil {
		return err
	}
	handler, err := newAPI(m)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	base := "http://" + ln.Addr().String()
	fmt.Fprintf(out, "A free-plan key (60 requests a minute), shown once:\n\n    %s\n\n", secret)
	fmt.Fprintf(out, "Watch X-RateLimit-Remaining fall, then a 429 (curl 7.84 or later):\n\n    %s\n\n", demoLoop(secret, base))
	fmt.Fprintf(out, "An endpoint test, 10 a minute per endpoint:\n\n    curl -i -H 'X-API-Key: %s' -X POST %s/endpoints/ep_1/test\n\n", secret, base)

	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// demoLoop is a shell loop that prints each answer's status and
// X-RateLimit-Remaining and stops at the first 429. It runs until the 429
// rather than a fixed count because the plan refills one request a second
// while the loop runs.
func demoLoop(secret, base string) string {
	return fmt.Sprintf(`for i in $(seq 200); do r=$(curl -s -o /dev/null -w '%%{http_code} X-RateLimit-Remaining: %%header{x-ratelimit-remaining} Retry-After: %%header{retry-after}' -H 'X-API-Key: %s' -X POST %s/webhooks/jobs); echo "$r"; case $r in 429*) break;; esac; done`, secret, base)
}

func newAPI(m *apikey.Manager) (http.Handler, error) {
	auth, err := m.NewMiddleware()
	if err != nil {
		return nil, err
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`+"\n")
	})
	mux := http.NewServeMux()
	mux.Handle("POST /webhooks/jobs", apikey.LimitRoute("webhook_jobs", apikey.PerSecond(100), apikey.PerKey)(ok))
	mux.Handle("POST /endpoints/{id}/test", apikey.LimitRoute("endpoint_tests", apikey.PerMinute(10), apikey.PerPathValue("id"))(ok))
	return auth(mux), nil
}
