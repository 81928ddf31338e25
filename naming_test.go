package apikey_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestOptionNames holds the naming rule of the package doc in every package
// with options: a constructor's options are With…/Without…, a middleware's
// options (MiddlewareOption) are not, and nothing else is named With… (a
// function returning a context is named for it); one option name takes the
// same parameters in every package (WithLogger is always a *slog.Logger).
// Every package of the tree is checked, so a new one cannot be forgotten.
func TestOptionNames(t *testing.T) {
	t.Parallel()
	var dirs []string
	err := fs.WalkDir(os.DirFS("."), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if base := filepath.Base(path); path != "." && (strings.HasPrefix(base, ".") || base == "testdata" || base == "internal") {
			return fs.SkipDir
		}
		dirs = append(dirs, path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	params := map[string]string{} // option name -> "its parameters (dir)"
	for _, dir := range dirs {
		fset := token.NewFileSet()
		pkgs, err := parser.ParseDir(fset, dir, func(fi fs.FileInfo) bool {
			return !strings.HasSuffix(fi.Name(), "_test.go")
		}, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pkgs {
			for _, f := range p.Files {
				for _, d := range f.Decls {
					fn, ok := d.(*ast.FuncDecl)
					if !ok || fn.Recv != nil || !fn.Name.IsExported() || fn.Type.Results == nil || len(fn.Type.Results.List) != 1 {
						continue
					}
					name, result := fn.Name.Name, typeName(fn.Type.Results.List[0].Type)
					with := strings.HasPrefix(name, "With")
					if with {
						sig := paramTypes(fn.Type.Params)
						if prev, ok := params[name]; !ok {
							params[name] = sig + " (" + dir + ")"
						} else if !strings.HasPrefix(prev, sig+" (") {
							t.Errorf("%s.%s%s, but %s%s: one name means one thing", dir, name, sig, name, prev)
						}
					}
					switch {
					case result == "MiddlewareOption" && with:
						t.Errorf("%s.%s: a middleware option is named for what it sets, without With", dir, name)
					case strings.HasSuffix(result, "Option") && result != "MiddlewareOption" && !with:
						t.Errorf("%s.%s: a constructor's option is named With… or Without…", dir, name)
					case !strings.HasSuffix(result, "Option") && with:
						t.Errorf("%s.%s returns %s: only options are named With…", dir, name, result)
					}
				}
			}
		}
	}
}

func typeName(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return e.X.(*ast.Ident).Name + "." + e.Sel.Name
	case *ast.StarExpr:
		return "*" + typeName(e.X)
	}
	return "?"
}

// paramTypes is "(T1, T2)" for a parameter list, without the names.
func paramTypes(l *ast.FieldList) string {
	var ts []string
	for _, f := range l.List {
		for range max(1, len(f.Names)) {
			ts = append(ts, types.ExprString(f.Type))
		}
	}
	return "(" + strings.Join(ts, ", ") + ")"
}
