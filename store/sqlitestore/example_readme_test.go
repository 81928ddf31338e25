package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/keyward/apikey/store/sqlitestore"
	"github.com/keyward/apikey/store/sqlstore"
)

// The README's "Stores" snippet, verbatim (the root module's
// TestREADMESnippetsVerbatim checks it). It opens keys.db and a PostgreSQL
// driver this module does not have, so it is compiled, not run.
func readmeStores(ctx context.Context) error {
	lite, err := sqlitestore.Open("keys.db") // WAL, busy_timeout, synchronous=FULL; migrates
	if err != nil {
		return err
	}
	defer lite.Close()

	db, err := sql.Open("pgx", "postgres://app@db/app") // bring your own driver
	if err != nil {
		return err
	}
	s, err := sqlstore.New(db, sqlstore.Postgres) // or sqlstore.MySQL
	if err != nil {
		return err
	}
	err = s.Migrate(ctx)                       // versioned, idempotent, safe when instances start together
	fmt.Print(sqlstore.DDL(sqlstore.Postgres)) // or apply the DDL with your own migration tool
	return err
}
