// Package integration runs the store tests that need database drivers the
// root module must not require: sqlstore against real PostgreSQL (pgx) and
// MySQL/MariaDB (go-sql-driver/mysql). It is a nested module, so its
// requirements stay out of the library's go.mod.
//
// The tests read two DSNs and skip when they are unset:
//
//	APIKEY_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//	APIKEY_TEST_MYSQL='root@tcp(127.0.0.1:3306)/test'
//
// Each test works in a schema (PostgreSQL) or database (MySQL) of its own,
// created and dropped by the test, so runs may overlap.
package integration
