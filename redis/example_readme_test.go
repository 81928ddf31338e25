package redis_test

import (
	goredis "github.com/redis/go-redis/v9"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/redis"
)

// The README's "Many instances" snippet, verbatim (the root module's
// TestREADMESnippetsVerbatim checks it); the store is the parameter. It
// names the README's Redis host, so it is compiled, not run.
func readmeManyInstances(store apikey.Store) (*apikey.Manager, error) {
	rdb := goredis.NewClient(&goredis.Options{Addr: "redis:6379"})
	limiter, err := redis.NewLimiter(rdb) // one Lua script, one round trip per decision
	if err != nil {
		return nil, err
	}
	inv, err := redis.NewInvalidator(rdb) // pub/sub cache evictions
	if err != nil {
		return nil, err
	}
	return apikey.New(store, apikey.WithLimiter(limiter), apikey.WithInvalidator(inv))
}
