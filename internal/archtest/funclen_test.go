package archtest

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// maxFuncLines is the longest a function outside the tests may be, counted
// from "func" to its closing brace: past it a function is doing several
// things, which read better as named helpers.
const maxFuncLines = 80

// longFuncs lets a function be longer than maxFuncLines, keyed by
// "path/relative/to/the/module.go:Name" (Recv.Name for a method), with the
// reason it is better left whole. Keep it empty: a split is nearly always
// clearer.
var longFuncs = map[string]string{}

// TestFunctionLength parses every .go file of the module outside the tests,
// testdata and generated code, and fails for each function longer than
// maxFuncLines that longFuncs does not excuse.
func TestFunctionLength(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to find the module: %v", err)
	}
	out, err := exec.Command(goBin, "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	long, files, err := longFunctions(root, maxFuncLines)
	if err != nil {
		t.Fatal(err)
	}
	// A walk that parsed nothing would pass.
	if files < 50 {
		t.Fatalf("parsed %d files under %s; is that the module?", files, root)
	}
	used := make(map[string]bool)
	for _, f := range long {
		if _, ok := longFuncs[f.key()]; ok {
			used[f.key()] = true
			continue
		}
		t.Errorf("%s:%d %s is %d lines, over %d: split it, or add it to longFuncs with a reason",
			f.file, f.line, f.name, f.lines, maxFuncLines)
	}
	for k := range longFuncs {
		if !used[k] {
			t.Errorf("longFuncs excuses %s, which is not over %d lines (or no longer exists): remove it", k, maxFuncLines)
		}
	}
}

// longFunc is one function over the limit.
type longFunc struct {
	file  string // relative to the module root, slash-separated
	line  int
	name  string // Name, or Recv.Name for a method
	lines int
}

func (f longFunc) key() string { return f.file + ":" + f.name }

// longFunctions walks the module at root and returns the functions over max
// lines, and how many files it parsed.
func longFunctions(root string, max int) ([]longFunc, int, error) {
	var long []longFunc
	files := 0
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		if ast.IsGenerated(f) {
			return nil
		}
		files++
		long = append(long, fileLongFuncs(fset, f, filepath.ToSlash(rel), max)...)
		return nil
	})
	return long, files, err
}

// fileLongFuncs returns the functions of f over max lines.
func fileLongFuncs(fset *token.FileSet, f *ast.File, rel string, max int) []longFunc {
	var long []longFunc
	for _, decl := range f.Decls {
		fn, ok := decl.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		start := fset.Position(fn.Pos()).Line
		n := fset.Position(fn.End()).Line - start + 1
		if n > max {
			long = append(long, longFunc{file: rel, line: start, name: funcName(fn), lines: n})
		}
	}
	return long
}

// funcName is fn's name, with its receiver's type for a method.
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	typ := fn.Recv.List[0].Type
	if star, ok := typ.(*ast.StarExpr); ok {
		typ = star.X
	}
	switch x := typ.(type) {
	case *ast.IndexExpr:
		typ = x.X
	case *ast.IndexListExpr:
		typ = x.X
	}
	if id, ok := typ.(*ast.Ident); ok {
		return id.Name + "." + fn.Name.Name
	}
	return fmt.Sprintf("%T.%s", typ, fn.Name.Name)
}

// TestFileLongFuncs checks the measure on sources whose spans are known, so
// that TestFunctionLength cannot pass by measuring nothing.
func TestFileLongFuncs(t *testing.T) {
	body := func(n int) string { return strings.Repeat("\tx++\n", n) }
	tests := []struct {
		name string
		src  string
		want []string // name:lines of the functions over 5 lines
	}{
		{"short function", "func f() {\n" + body(3) + "}\n", nil},
		{"exactly the limit", "func f() {\n" + body(3) + "}\n\nfunc g() {\n" + body(2) + "}\n", nil},
		{"one over", "func f() {\n" + body(4) + "}\n", []string{"f:6"}},
		{"method on a pointer", "type T struct{}\n\nfunc (t *T) m() {\n" + body(10) + "}\n", []string{"T.m:12"}},
		{"method on a generic type", "type G[K any] struct{}\n\nfunc (g G[K]) m() {\n" + body(5) + "}\n", []string{"G.m:7"}},
		{"closures count in their function", "func f() {\n\tg := func() {\n" + body(4) + "\t}\n\tg()\n}\n", []string{"f:9"}},
		{"declaration without a body", "//go:linkname f\nfunc f()\n", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fset := token.NewFileSet()
			f, err := parser.ParseFile(fset, "x.go", "package x\n\n"+tc.src, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, l := range fileLongFuncs(fset, f, "x.go", 5) {
				got = append(got, fmt.Sprintf("%s:%d", l.name, l.lines))
			}
			if strings.Join(got, " ") != strings.Join(tc.want, " ") {
				t.Errorf("long functions = %q, want %q", got, tc.want)
			}
		})
	}
}
