package apikey_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"strings"
	"testing"
)

// TestOptionNames holds the naming rule of the package doc in every package
// with options: a constructor's options are With…/Without…, a middleware's
// options (MiddlewareOption) are not, and nothing else is named With… (a
// function returning a context is named for it).
func TestOptionNames(t *testing.T) {
	t.Parallel()
	for _, dir := range []string{".", "admin", "redis", "store/sqlstore", "store/sqlitestore", "store/pgnotify", "audit", "leak"} {
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
