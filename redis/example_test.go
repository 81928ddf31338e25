package redis_test

import (
	"context"
	"errors"
	"log"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/redis"
	"github.com/keyward/apikey/store/memstore"
)

// Every instance of a service runs this: the instances share one rate
// limit per key and see each other's revocations at once. (It needs a
// Redis server, so it is compiled but not run.)
func Example() {
	ctx := context.Background()
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()

	limiter, err := redis.NewLimiter(rdb, redis.WithTimeout(100*time.Millisecond))
	if err != nil {
		log.Fatal(err)
	}
	inv, err := redis.NewInvalidator(rdb)
	if err != nil {
		log.Fatal(err)
	}
	defer inv.Close()

	m, err := apikey.New(memstore.New(), // in production: a store shared by every instance
		apikey.WithKeyLimit(apikey.PerMinute(600)),
		apikey.WithLimiter(limiter),
		apikey.WithInvalidator(inv),
		// Without Redis, let requests through rather than refuse them:
		apikey.WithLimiterFailOpen(),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	_, secret, err := m.Create(ctx, apikey.CreateParams{Name: "worker"})
	if err != nil {
		log.Fatal(err)
	}
	_, d, err := m.Check(ctx, secret, apikey.CheckOptions{})
	switch {
	case errors.Is(err, apikey.ErrRateLimited):
		log.Printf("429, retry after %s", d.RetryAfter)
	case err != nil:
		log.Print(err)
	default:
		log.Printf("ok, %d of %d left until %s", d.Remaining, d.Limit, d.Reset)
	}
}
