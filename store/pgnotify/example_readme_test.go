package pgnotify_test

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/pgnotify"
	"github.com/keyward/apikey/store/sqlstore"
)

// The README's "Without Redis: the store's change feed" snippet, verbatim
// (the root module's TestREADMESnippetsVerbatim checks it). The tests of
// this package and of integration/ run what it sets up.
func readmeChangeFeed(ctx context.Context, store *sqlstore.Store, pgxConfig *pgx.ConnConfig) (*apikey.Manager, error) {
	var inv apikey.Invalidator
	var err error
	if store.Dialect() == sqlstore.Postgres {
		inv, err = pgnotify.New(ctx, pgxConfig) // LISTEN/NOTIFY: every instance within milliseconds
	} else {
		inv, err = sqlstore.NewPoller(ctx, store) // MySQL, MariaDB, SQLite: polls every 250 ms
	}
	if err != nil {
		return nil, err
	}
	return apikey.New(store, apikey.WithInvalidator(inv))
}

var _ = readmeChangeFeed
