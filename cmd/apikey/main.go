// Command apikey manages the API keys of a keyward/apikey store from a
// terminal: migrate the schema, create, list, inspect, change, disable,
// enable, rotate and revoke keys, and read the audit log.
//
//	apikey --db keys.db migrate
//	apikey --db keys.db create --name admin --scope api_keys:manage
//	apikey --db 'postgres://user@host/db' list --status active
//	apikey --db 'mysql://user:pass@tcp(host:3306)/db' --json audit --key <id>
//
// --db (or APIKEY_DB) is a SQLite file path (or sqlite://path), a
// postgres:// URL, or mysql:// followed by a go-sql-driver DSN or a URL.
// The key format and digests must match the service's: --prefix (or
// APIKEY_PREFIX, default sk) and the pepper in APIKEY_PEPPER (never a
// flag, so that it stays out of shell history and ps).
//
// Keys are printed once, by create and rotate. --json prints JSON for
// scripts; otherwise output is aligned tables. Every command takes --help.
//
// Exit codes: 0 success, 1 failure (database, unexpected), 2 usage or
// invalid parameters, 3 not found, 4 conflict (e.g. rotating a key twice).
package main

import "os"

func main() { os.Exit(run(os.Args[1:], os.Stdout, os.Stderr)) }
