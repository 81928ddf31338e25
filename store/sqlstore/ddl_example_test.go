package sqlstore_test

import (
	"fmt"

	"github.com/keyward/apikey/store/sqlstore"
)

// The schema for a team that applies migrations with its own tool.
func ExampleDDL() {
	fmt.Print(sqlstore.DDL(sqlstore.Postgres, sqlstore.WithTablePrefix("auth_")))
	// Output:
	// -- version 1
	// CREATE TABLE IF NOT EXISTS auth_api_keys (
	// 	id BYTEA NOT NULL PRIMARY KEY,
	// 	digest BYTEA NOT NULL,
	// 	digest_scheme TEXT NOT NULL,
	// 	prefix TEXT NOT NULL,
	// 	name BYTEA NOT NULL,
	// 	owner_id BYTEA NOT NULL,
	// 	environment TEXT NOT NULL,
	// 	scopes TEXT NOT NULL,
	// 	metadata TEXT,
	// 	created_at BIGINT NOT NULL,
	// 	expires_at BIGINT,
	// 	revoked_at BIGINT,
	// 	last_used_at BIGINT,
	// 	disabled BOOLEAN NOT NULL DEFAULT FALSE,
	// 	request_count BIGINT NOT NULL DEFAULT 0,
	// 	rotated_from_id BYTEA,
	// 	rotated_to_id BYTEA
	// );
	// CREATE UNIQUE INDEX IF NOT EXISTS auth_api_keys_digest ON auth_api_keys (digest);
	// CREATE INDEX IF NOT EXISTS auth_api_keys_owner_id ON auth_api_keys (owner_id, id);
	// -- version 2
	// CREATE TABLE IF NOT EXISTS auth_audit_events (
	// 	id BYTEA NOT NULL PRIMARY KEY,
	// 	time BIGINT NOT NULL,
	// 	action TEXT NOT NULL,
	// 	outcome TEXT NOT NULL,
	// 	actor_type BYTEA NOT NULL,
	// 	actor_id BYTEA NOT NULL,
	// 	owner_id BYTEA NOT NULL,
	// 	key_id BYTEA NOT NULL,
	// 	key_name BYTEA NOT NULL,
	// 	client_addr BYTEA NOT NULL,
	// 	request_id BYTEA NOT NULL,
	// 	details TEXT
	// );
	// CREATE INDEX IF NOT EXISTS auth_audit_events_owner_id ON auth_audit_events (owner_id, id);
	// CREATE INDEX IF NOT EXISTS auth_audit_events_key_id ON auth_audit_events (key_id, id);
	// CREATE INDEX IF NOT EXISTS auth_audit_events_time ON auth_audit_events (time);
	// -- version 3
	// ALTER TABLE auth_api_keys
	// 	ADD COLUMN IF NOT EXISTS plan TEXT NOT NULL DEFAULT '',
	// 	ADD COLUMN IF NOT EXISTS rate_limit_requests BIGINT NOT NULL DEFAULT 0,
	// 	ADD COLUMN IF NOT EXISTS rate_limit_period BIGINT NOT NULL DEFAULT 0,
	// 	ADD COLUMN IF NOT EXISTS rate_limit_burst BIGINT NOT NULL DEFAULT 0,
	// 	ADD COLUMN IF NOT EXISTS quota_limit BIGINT,
	// 	ADD COLUMN IF NOT EXISTS quota_remaining BIGINT NOT NULL DEFAULT 0,
	// 	ADD COLUMN IF NOT EXISTS quota_refill TEXT NOT NULL DEFAULT '',
	// 	ADD COLUMN IF NOT EXISTS quota_period_start BIGINT NOT NULL DEFAULT 0;
}
