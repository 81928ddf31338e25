package sqlstore

import "strings"

// Version 4: the change feed. Triggers on {p}api_keys record every change
// that can alter a verification (not usage counts, not quota spending) in
// {p}key_changes, whoever makes it: a Manager, the admin handler, the CLI,
// an operator's SQL. Instances poll that table (Poller); on PostgreSQL the
// trigger also sends NOTIFY on the channel ChangeChannel names, for a
// LISTEN invalidator (github.com/keyward/apikey/store/pgnotify).

// watchedColumns are the columns whose change must evict a cached key.
var watchedColumns = []string{
	"digest", "digest_scheme", "name", "owner_id", "environment", "scopes", "metadata",
	"expires_at", "revoked_at", "disabled", "rotated_to_id", "plan",
	"rate_limit_requests", "rate_limit_period", "rate_limit_burst", "quota_limit", "quota_refill",
}

// ChangeChannel is the PostgreSQL NOTIFY channel on which the version 4
// trigger announces changed keys (their ID, hex-encoded), for the tables
// of prefix (see WithTablePrefix).
func ChangeChannel(prefix string) string { return prefix + "api_keys_changed" }

func changesColumnsV4() []column {
	return []column{
		{"seq", "BIGSERIAL NOT NULL PRIMARY KEY", "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY", "INTEGER PRIMARY KEY AUTOINCREMENT"},
		{"key_id", "BYTEA NOT NULL", "VARBINARY(255) NOT NULL", "BLOB NOT NULL"},
		{"changed_at", "BIGINT NOT NULL", "BIGINT NOT NULL", "INTEGER NOT NULL"}, // seconds, the database's clock
	}
}

// changedCondition is true when a watched column differs between OLD and
// NEW, NULLs compared as values.
func changedCondition(d Dialect) string {
	parts := make([]string, len(watchedColumns))
	for i, c := range watchedColumns {
		switch d {
		case Postgres:
			parts[i] = "OLD." + c + " IS DISTINCT FROM NEW." + c
		case MySQL:
			parts[i] = "NOT (OLD." + c + " <=> NEW." + c + ")"
		default:
			parts[i] = "OLD." + c + " IS NOT NEW." + c
		}
	}
	return strings.Join(parts, "\n\tOR ")
}

// changeFeedV4 creates {p}key_changes and its triggers. Re-running it is
// harmless: triggers are dropped and created again (in the migration's
// transaction on PostgreSQL and SQLite, under GET_LOCK on MySQL).
func changeFeedV4(d Dialect) []string {
	stmts := createTable(d, "key_changes", changesColumnsV4(), []index{{"key_changes_changed_at", false, "changed_at"}})
	cond := changedCondition(d)
	switch d {
	case Postgres:
		return append(stmts,
			// One line: tools that split DDL on ";\n" must not cut the body.
			"CREATE OR REPLACE FUNCTION {p}api_keys_changed() RETURNS trigger LANGUAGE plpgsql AS $$ DECLARE k BYTEA; BEGIN "+
				"IF TG_OP = 'DELETE' THEN k := OLD.id; ELSE k := NEW.id; END IF; "+
				"INSERT INTO {p}key_changes (key_id, changed_at) VALUES (k, extract(epoch FROM now())::bigint); "+
				"PERFORM pg_notify('"+ChangeChannel("{p}")+"', encode(k, 'hex')); RETURN NULL; END $$",
			"DROP TRIGGER IF EXISTS {p}api_keys_changed_upd ON {p}api_keys",
			"CREATE TRIGGER {p}api_keys_changed_upd AFTER UPDATE ON {p}api_keys FOR EACH ROW WHEN (\n\t"+cond+"\n) EXECUTE FUNCTION {p}api_keys_changed()",
			"DROP TRIGGER IF EXISTS {p}api_keys_changed_del ON {p}api_keys",
			"CREATE TRIGGER {p}api_keys_changed_del AFTER DELETE ON {p}api_keys FOR EACH ROW EXECUTE FUNCTION {p}api_keys_changed()",
		)
	case MySQL:
		now := "UNIX_TIMESTAMP()"
		return append(stmts,
			"DROP TRIGGER IF EXISTS {p}api_keys_changed_upd",
			"CREATE TRIGGER {p}api_keys_changed_upd AFTER UPDATE ON {p}api_keys FOR EACH ROW "+
				"INSERT INTO {p}key_changes (key_id, changed_at) SELECT NEW.id, "+now+" FROM DUAL WHERE "+cond,
			"DROP TRIGGER IF EXISTS {p}api_keys_changed_del",
			"CREATE TRIGGER {p}api_keys_changed_del AFTER DELETE ON {p}api_keys FOR EACH ROW "+
				"INSERT INTO {p}key_changes (key_id, changed_at) VALUES (OLD.id, "+now+")",
		)
	default:
		now := "CAST(strftime('%s', 'now') AS INTEGER)"
		return append(stmts,
			"CREATE TRIGGER IF NOT EXISTS {p}api_keys_changed_upd AFTER UPDATE ON {p}api_keys FOR EACH ROW WHEN "+cond+
				" BEGIN INSERT INTO {p}key_changes (key_id, changed_at) VALUES (NEW.id, "+now+"); END",
			"CREATE TRIGGER IF NOT EXISTS {p}api_keys_changed_del AFTER DELETE ON {p}api_keys FOR EACH ROW"+
				" BEGIN INSERT INTO {p}key_changes (key_id, changed_at) VALUES (OLD.id, "+now+"); END",
		)
	}
}
