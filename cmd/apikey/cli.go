package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/keyward/apikey"
	"github.com/keyward/apikey/audit"
)

// Exit codes.
const (
	exitOK       = 0
	exitFailure  = 1
	exitUsage    = 2
	exitNotFound = 3
	exitConflict = 4
	exitLiveKey  = 5 // scan found a live key: a CI job fails on it
)

// globals are the flags every command takes.
type globals struct {
	db     string
	json   bool
	prefix string
}

// command is one subcommand.
type command struct {
	name, args, summary string
	// flags registers the command's own flags; run does the work on a
	// Manager over the opened store.
	flags func(fs *flag.FlagSet) func(ctx context.Context, c *cli, args []string) error
	// nargs is how many positional arguments it takes; -1: one or more.
	nargs int
}

var commands = []command{
	{"migrate", "", "create or update the schema", migrateFlags, 0},
	{"create", "", "create a key; prints it once", createFlags, 0},
	{"list", "", "list keys (masked)", listFlags, 0},
	{"get", "ID", "show one key", getFlags, 1},
	{"update", "ID", "rename a key or replace its metadata", updateFlags, 1},
	{"disable", "ID", "stop a key until enabled again", disableFlags, 1},
	{"enable", "ID", "undo disable", enableFlags, 1},
	{"rotate", "ID", "issue a successor; prints it once", rotateFlags, 1},
	{"revoke", "ID", "stop a key for good", revokeFlags, 1},
	{"audit", "", "read the audit log, newest first", auditFlags, 0},
	{"scan", "PATH", "find keys in files or git history (one or more PATHs); say which are live", scanFlags, -1},
}

// cli is one run: its output and the opened store.
type cli struct {
	g      globals
	stdout io.Writer
	stderr io.Writer
	m      *apikey.Manager
	store  *openStore
}

// usageError is a mistake in the command line: exit 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

func registerGlobals(fs *flag.FlagSet, g *globals) {
	fs.StringVar(&g.db, "db", g.db, "database: SQLite path, postgres://…, or mysql://… (default $APIKEY_DB)")
	fs.BoolVar(&g.json, "json", g.json, "print JSON instead of tables")
	fs.StringVar(&g.prefix, "prefix", g.prefix, "key prefix, as the service's WithPrefix (default $APIKEY_PREFIX or sk)")
}

// run is the whole program: args without the program name.
func run(args []string, stdout, stderr io.Writer) int {
	g := globals{db: os.Getenv("APIKEY_DB"), prefix: os.Getenv("APIKEY_PREFIX")}
	if g.prefix == "" {
		g.prefix = apikey.DefaultPrefix
	}
	top := flag.NewFlagSet("apikey", flag.ContinueOnError)
	top.SetOutput(io.Discard)
	registerGlobals(top, &g)
	if err := top.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			mainUsage(stdout, top)
			return exitOK
		}
		fmt.Fprintln(stderr, "apikey:", redactKeys(err.Error()))
		mainUsage(stderr, top)
		return exitUsage
	}
	rest := top.Args()
	if len(rest) == 0 {
		mainUsage(stderr, top)
		return exitUsage
	}
	if rest[0] == "help" {
		mainUsage(stdout, top)
		return exitOK
	}
	i := slices.IndexFunc(commands, func(c command) bool { return c.name == rest[0] })
	if i < 0 {
		fmt.Fprintf(stderr, "apikey: unknown command %s\n", redactKeys(strconv.Quote(rest[0])))
		mainUsage(stderr, top)
		return exitUsage
	}
	cmd := commands[i]
	fs := flag.NewFlagSet("apikey "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	registerGlobals(fs, &g)
	do := cmd.flags(fs)
	// Flags may come before or after the ID.
	positional, err := parseInterspersed(fs, rest[1:])
	switch {
	case errors.Is(err, flag.ErrHelp):
		commandUsage(stdout, cmd, fs)
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "apikey %s: %s\n", cmd.name, redactKeys(err.Error()))
		commandUsage(stderr, cmd, fs)
		return exitUsage
	case cmd.nargs < 0 && len(positional) == 0:
		fmt.Fprintf(stderr, "apikey %s: want at least one argument\n", cmd.name)
		commandUsage(stderr, cmd, fs)
		return exitUsage
	case cmd.nargs >= 0 && len(positional) != cmd.nargs:
		fmt.Fprintf(stderr, "apikey %s: want %d argument(s), got %d\n", cmd.name, cmd.nargs, len(positional))
		commandUsage(stderr, cmd, fs)
		return exitUsage
	case g.db == "":
		fmt.Fprintf(stderr, "apikey %s: --db (or APIKEY_DB) is required\n", cmd.name)
		return exitUsage
	case looksLikeKey(g.db):
		// Never echo it: it is likely a secret pasted in the wrong place.
		fmt.Fprintf(stderr, "apikey %s: --db (or APIKEY_DB) looks like an API key, not a database; give a SQLite path, postgres://… or mysql://… (the value is not shown)\n", cmd.name)
		return exitUsage
	}
	c := &cli{g: g, stdout: stdout, stderr: stderr}
	ctx := audit.ContextWithActor(context.Background(), audit.Actor{Type: audit.ActorCLI, ID: operator()})
	err = c.open(cmd.name == "migrate")
	if err == nil {
		err = do(ctx, c, positional)
		err = errors.Join(err, c.close())
	}
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "apikey %s: %s\n", cmd.name, describe(cmd.name, err))
	return exitCode(err)
}

// describe is err of command cmd as the CLI prints it: without the
// library's "apikey: " prefixes nor a leading "cmd: ", which the CLI's own
// prefix already gives, and with a hint where the fix is known.
func describe(cmd string, err error) string {
	msg := redactKeys(strings.ReplaceAll(err.Error(), "apikey: ", ""))
	msg = strings.TrimPrefix(msg, cmd+": ")
	if missingSchema(err) {
		msg += "\nhint: the database has no key schema (or an old one): run 'apikey migrate' with the same --db"
	}
	return msg
}

// missingSchema reports whether err says a table does not exist.
func missingSchema(err error) bool {
	var pg *pgconn.PgError
	var my *mysql.MySQLError
	switch {
	case errors.As(err, &pg):
		return pg.Code == "42P01" // undefined_table
	case errors.As(err, &my):
		return my.Number == 1146 // ER_NO_SUCH_TABLE
	}
	return strings.Contains(err.Error(), "no such table") // SQLite
}

// parseInterspersed parses flags wherever they stand among args.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func exitCode(err error) int {
	var ue usageError
	switch {
	case errors.As(err, &ue), errors.Is(err, apikey.ErrInvalidParams):
		return exitUsage
	case errors.Is(err, apikey.ErrNotFound):
		return exitNotFound
	case errors.Is(err, apikey.ErrConflict):
		return exitConflict
	case errors.Is(err, errLiveKey):
		return exitLiveKey
	}
	return exitFailure
}

// operator names who runs the command, for the audit log.
func operator() string {
	name := "unknown"
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	if host, err := os.Hostname(); err == nil {
		name += "@" + host
	}
	return name
}

func mainUsage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintln(w, "Usage: apikey [--db DSN] [--json] [--prefix sk] <command> [flags] [ID]")
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %-4s %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\nFlags:")
	printFlags(w, fs)
	fmt.Fprintln(w, "\nThe pepper, if the service uses one, is read from APIKEY_PEPPER.")
	fmt.Fprintln(w, "Exit codes: 0 ok, 1 failure, 2 usage or invalid parameters, 3 not found, 4 conflict, 5 scan found a live key.")
	fmt.Fprintln(w, "Run 'apikey <command> --help' for a command's flags.")
}

func commandUsage(w io.Writer, c command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: apikey %s [flags] %s\n\n%s.\n\nFlags:\n", c.name, c.args, strings.ToUpper(c.summary[:1])+c.summary[1:])
	printFlags(w, fs)
}

// printFlags is flag.PrintDefaults without a second default for flags
// whose usage already names theirs: the global flags, whose values come
// from the environment (a DSN may hold a password; help must not show it).
func printFlags(w io.Writer, fs *flag.FlagSet) {
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		line := "  -" + f.Name
		if kind != "" {
			line += " " + kind
		}
		line += "\n    \t" + strings.ReplaceAll(usage, "\n", "\n    \t")
		if !strings.Contains(usage, "(default") && f.DefValue != "" && f.DefValue != "0" && f.DefValue != "false" {
			if g, ok := f.Value.(flag.Getter); ok {
				if _, isString := g.Get().(string); isString {
					line += fmt.Sprintf(" (default %q)", f.DefValue)
				} else {
					line += " (default " + f.DefValue + ")"
				}
			}
		}
		fmt.Fprintln(w, line)
	})
}
