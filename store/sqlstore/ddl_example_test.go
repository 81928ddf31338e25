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
	// -- version 4
	// CREATE TABLE IF NOT EXISTS auth_key_changes (
	// 	seq BIGSERIAL NOT NULL PRIMARY KEY,
	// 	key_id BYTEA NOT NULL,
	// 	changed_at BIGINT NOT NULL
	// );
	// CREATE INDEX IF NOT EXISTS auth_key_changes_changed_at ON auth_key_changes (changed_at);
	// CREATE OR REPLACE FUNCTION auth_api_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE k BYTEA; BEGIN IF TG_OP = 'DELETE' THEN k := OLD.id; ELSE k := NEW.id; END IF; INSERT INTO auth_key_changes (key_id, changed_at) VALUES (k, extract(epoch FROM now())::bigint); PERFORM pg_notify('auth_api_keys_changed', encode(k, 'hex')); RETURN NULL; END $$;
	// DROP TRIGGER IF EXISTS auth_api_keys_changed_upd ON auth_api_keys;
	// CREATE TRIGGER auth_api_keys_changed_upd AFTER UPDATE ON auth_api_keys FOR EACH ROW WHEN (
	// 	OLD.digest IS DISTINCT FROM NEW.digest
	// 	OR OLD.digest_scheme IS DISTINCT FROM NEW.digest_scheme
	// 	OR OLD.name IS DISTINCT FROM NEW.name
	// 	OR OLD.owner_id IS DISTINCT FROM NEW.owner_id
	// 	OR OLD.environment IS DISTINCT FROM NEW.environment
	// 	OR OLD.scopes IS DISTINCT FROM NEW.scopes
	// 	OR OLD.metadata IS DISTINCT FROM NEW.metadata
	// 	OR OLD.expires_at IS DISTINCT FROM NEW.expires_at
	// 	OR OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
	// 	OR OLD.disabled IS DISTINCT FROM NEW.disabled
	// 	OR OLD.rotated_to_id IS DISTINCT FROM NEW.rotated_to_id
	// 	OR OLD.plan IS DISTINCT FROM NEW.plan
	// 	OR OLD.rate_limit_requests IS DISTINCT FROM NEW.rate_limit_requests
	// 	OR OLD.rate_limit_period IS DISTINCT FROM NEW.rate_limit_period
	// 	OR OLD.rate_limit_burst IS DISTINCT FROM NEW.rate_limit_burst
	// 	OR OLD.quota_limit IS DISTINCT FROM NEW.quota_limit
	// 	OR OLD.quota_refill IS DISTINCT FROM NEW.quota_refill
	// ) EXECUTE FUNCTION auth_api_keys_changed();
	// DROP TRIGGER IF EXISTS auth_api_keys_changed_del ON auth_api_keys;
	// CREATE TRIGGER auth_api_keys_changed_del AFTER DELETE ON auth_api_keys FOR EACH ROW EXECUTE FUNCTION auth_api_keys_changed();
}
