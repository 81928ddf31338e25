package main

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/go-sql-driver/mysql"
	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/store/sqlitestore"
	"github.com/keyward/apikey/store/sqlstore"
)

// openStore is the store a DSN names, and what closes it.
type openStore struct {
	apikey.Store
	db      *sql.DB
	migrate func(context.Context) error
	close   func() error
	// before is the schema version found before opening (SQLite files
	// are migrated on open), or -1 when not read.
	before int
}

// schemaVersion is the newest migration applied to db, 0 for none.
func schemaVersion(ctx context.Context, db *sql.DB) (int, error) {
	var v sql.NullInt64
	err := db.QueryRowContext(ctx, "SELECT MAX(version) FROM schema_migrations").Scan(&v)
	if err != nil && missingSchema(err) {
		return 0, nil
	}
	return int(v.Int64), err
}

// sqliteVersion is the schema version of the SQLite file at path, read
// without creating or changing it: 0 when it does not exist.
func sqliteVersion(ctx context.Context, path string) (int, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	// Escaped as sqlitestore.Open escapes it, so that a path with '?', '#'
	// or '%' names the same file, not another one this would create.
	db, err := sql.Open("sqlite", "file:"+(&url.URL{Path: path}).EscapedPath()+"?mode=ro")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	return schemaVersion(ctx, db)
}

// openDSN opens the store of dsn: postgres:// or postgresql:// URLs,
// mysql:// followed by a go-sql-driver DSN (user:pass@tcp(host:3306)/db)
// or a URL (mysql://user:pass@host:3306/db), otherwise a SQLite file path
// (optionally sqlite://path). SQLite files are created and migrated on
// open; the SQL servers only by migrate.
func openDSN(dsn string) (*openStore, error) {
	var (
		db      *sql.DB
		dialect sqlstore.Dialect
		err     error
	)
	switch {
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		dialect = sqlstore.Postgres
		db, err = sql.Open("pgx", dsn)
	case strings.HasPrefix(dsn, "mysql://"):
		dialect = sqlstore.MySQL
		var cfg *mysql.Config
		if cfg, err = mysqlConfig(strings.TrimPrefix(dsn, "mysql://")); err == nil {
			var conn driver.Connector
			if conn, err = mysql.NewConnector(cfg); err == nil {
				db = sql.OpenDB(conn)
			}
		}
	default:
		path := strings.TrimPrefix(dsn, "sqlite://")
		before, err := sqliteVersion(context.Background(), path)
		if err != nil {
			before = -1
		}
		s, err := sqlitestore.Open(path)
		if err != nil {
			return nil, err
		}
		return &openStore{Store: s, db: s.DB(), migrate: s.Migrate, close: s.Close, before: before}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("opening the database: %w", err)
	}
	s, err := sqlstore.New(db, dialect)
	if err != nil {
		db.Close()
		return nil, err
	}
	return &openStore{Store: s, db: db, migrate: s.Migrate, close: func() error { return errors.Join(s.Close(), db.Close()) }, before: -1}, nil
}

// keyLike matches an API key of any prefix anywhere in a string, and
// what is nearly one (a character missing or too many, glued to other
// text): most of a secret (43 characters) is as secret as all of it.
var keyLike = regexp.MustCompile(`_(live|test)_[0-9A-Za-z]{32,}`)

// redactKeys hides what looks like a key in a message that may echo an
// argument (a key pasted where a command, flag or value belongs).
func redactKeys(msg string) string { return keyLike.ReplaceAllString(msg, "_${1}_[not shown]") }

// looksLikeKey reports whether a --db value is, or holds, an API key: a
// key pasted in the wrong place, which would otherwise become the name of
// a new SQLite file.
func looksLikeKey(dsn string) bool {
	return keyLike.MatchString(dsn) || apikey.ValidChecksum(strings.TrimSpace(dsn))
}

// mysqlConfig reads a go-sql-driver DSN, or a URL user:pass@host:port/db.
func mysqlConfig(s string) (*mysql.Config, error) {
	if strings.Contains(s, "@tcp(") || strings.Contains(s, "@unix(") || strings.HasPrefix(s, "/") {
		return mysql.ParseDSN(s)
	}
	u, err := url.Parse("mysql://" + s)
	if err != nil {
		return nil, errors.New("mysql: not a DSN or URL") // the error would echo the password
	}
	cfg := mysql.NewConfig()
	cfg.User = u.User.Username()
	cfg.Passwd, _ = u.User.Password()
	cfg.Net, cfg.Addr = "tcp", u.Host
	cfg.DBName = strings.TrimPrefix(u.Path, "/")
	if len(u.Query()) > 0 {
		cfg.Params = map[string]string{}
		for k, v := range u.Query() {
			cfg.Params[k] = v[0]
		}
	}
	return cfg, nil
}

// open opens the store and a Manager over it. A Manager of the CLI keeps
// no cache and counts no usage: it starts no goroutine.
func (c *cli) open(migrating bool) error {
	s, err := openDSN(c.g.db)
	if err != nil {
		return err
	}
	c.store = s
	if migrating {
		return nil
	}
	opts := []apikey.Option{apikey.WithPrefix(c.g.prefix), apikey.WithCache(0), apikey.WithNegativeCache(0, 0),
		apikey.WithoutUsageTracking()}
	if p := os.Getenv("APIKEY_PEPPER"); p != "" {
		opts = append(opts, apikey.WithPepper([]byte(p)))
	}
	if c.m, err = apikey.New(s.Store, opts...); err != nil { // the store itself: it may be an audit.Store too
		return err
	}
	return nil
}

func (c *cli) close() error {
	var err error
	if c.m != nil {
		err = c.m.Close()
	}
	if c.store != nil {
		err = errors.Join(err, c.store.close())
	}
	return err
}
