package main

import (
	"bufio"
	"encoding/json"
	"go/ast"
	goparser "go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/zoomtoken/tokenserver/"

// goPackage is one package of the module as `go list` sees it: its path
// inside the module and the module's packages it imports (tests aside).
type goPackage struct {
	path    string
	imports []string
	foreign []string // imports from outside the module
}

func listPackages(t *testing.T) []goPackage {
	t.Helper()
	out, err := exec.Command("go", "list", "-json", "../...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	var pkgs []goPackage
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		gp := goPackage{path: strings.TrimPrefix(p.ImportPath, module)}
		for _, imp := range p.Imports {
			if dep, ok := strings.CutPrefix(imp, module); ok {
				gp.imports = append(gp.imports, dep)
			} else {
				gp.foreign = append(gp.foreign, imp)
			}
		}
		sort.Strings(gp.imports)
		pkgs = append(pkgs, gp)
	}
	return pkgs
}

var rowRE = regexp.MustCompile("^\\| `([a-z0-9/]+)` \\|.*\\| ([^|]*) \\|$")
var nameRE = regexp.MustCompile("`([a-z0-9/]+)`")

// documented reads the package table of docs/ARCHITECTURE.md: for each
// package, the packages of ours it imports, as the table's last column
// names them ("—" for none).
func documented(t *testing.T) map[string][]string {
	t.Helper()
	f, err := os.Open("../docs/ARCHITECTURE.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows := map[string][]string{}
	in := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "| package | holds | imports of ours |") {
			in = true
			continue
		}
		if in && !strings.HasPrefix(line, "|") {
			break
		}
		m := rowRE.FindStringSubmatch(line)
		if !in || m == nil {
			continue
		}
		deps := []string{}
		for _, d := range nameRE.FindAllStringSubmatch(m[2], -1) {
			deps = append(deps, d[1])
		}
		sort.Strings(deps)
		rows[m[1]] = deps
	}
	if len(rows) == 0 {
		t.Fatal("docs/ARCHITECTURE.md has no package table (| package | holds | imports of ours |)")
	}
	return rows
}

// The package table of docs/ARCHITECTURE.md is the map of the house: it
// lists every package, and for each exactly the packages of ours it
// imports. A package added, or an import added or dropped, without the
// table saying so fails here, so the map cannot go stale.
func TestArchitectureTableIsTheHouse(t *testing.T) {
	rows := documented(t)
	seen := map[string]bool{}
	for _, p := range listPackages(t) {
		seen[p.path] = true
		want, ok := rows[p.path]
		if !ok {
			t.Errorf("package %s is not in docs/ARCHITECTURE.md's package table; add a row saying what it holds and what it imports (%s)",
				p.path, strings.Join(quoted(p.imports), ", "))
			continue
		}
		if !slices.Equal(want, p.imports) {
			t.Errorf("docs/ARCHITECTURE.md says %s imports %v; it imports %v", p.path, want, p.imports)
		}
	}
	for path := range rows {
		if !seen[path] {
			t.Errorf("docs/ARCHITECTURE.md lists %s, which is not a package of the module", path)
		}
	}
}

func quoted(ss []string) []string {
	out := []string{}
	for _, s := range ss {
		out = append(out, "`"+s+"`")
	}
	if len(out) == 0 {
		return []string{"—"}
	}
	return out
}

// The rules the table must keep, whatever it says: the domain knows no
// transport and no storage technology, the transports do not know each
// other, only server wires, and the leaves stay leaves.
func TestImportRules(t *testing.T) {
	never := []struct{ from, to, why string }{
		{"services", "github.com/gin-gonic/", "the domain knows no HTTP framework"},
		{"services", "github.com/zishang520/", "the domain knows no Socket.IO"},
		{"services", "github.com/redis/", "the domain knows no Redis"},
		{"services", "database/sql", "the domain knows no SQL"},
		{"services", "modernc.org/sqlite", "the domain knows no SQL"},
		{"services", "github.com/jackc/", "the domain knows no SQL"},
		{"services", module + "routes", "the domain knows no transport"},
		{"services", module + "realtime", "the domain knows no transport"},
		{"services", module + "internal/wire", "the domain knows no transport"},
		{"services", module + "internal/gate", "the domain is given identities, it does not authenticate"},
		{"routes", module + "realtime", "the transports do not know each other"},
		{"realtime", module + "routes", "the transports do not know each other"},
		{"internal/zoom", module + "services", "the Zoom client knows no caller"},
		{"internal/zoom", module + "routes", "the Zoom client knows no transport"},
		{"internal/zoom", module + "realtime", "the Zoom client knows no transport"},
	}
	for _, p := range listPackages(t) {
		all := append(slices.Clone(p.foreign), prefixed(p.imports)...)
		for _, n := range never {
			if p.path != n.from && !strings.HasPrefix(p.path, n.from+"/") { // a rule for services holds for services/awaits too
				continue
			}
			for _, imp := range all {
				if strings.HasPrefix(imp, n.to) {
					t.Errorf("%s imports %s: %s", p.path, imp, n.why)
				}
			}
		}
		if p.path != "server" {
			for _, dep := range p.imports {
				if dep == "server" {
					t.Errorf("%s imports server: only server wires the parts", p.path)
				}
			}
		}
	}
}

func prefixed(deps []string) []string {
	out := make([]string, len(deps))
	for i, d := range deps {
		out[i] = module + d
	}
	return out
}

// longestFunction is the house's limit on a function's length, tests aside:
// longer ones are split into steps that each have a name.
const longestFunction = 80

func TestNoLongFunctions(t *testing.T) {
	err := filepath.WalkDir("..", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != ".." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		fset := token.NewFileSet()
		f, err := goparser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			if n := fset.Position(fd.End()).Line - fset.Position(fd.Pos()).Line + 1; n > longestFunction {
				t.Errorf("%s: %s is %d lines; split it into named steps (at most %d)", fset.Position(fd.Pos()), fd.Name.Name, n, longestFunction)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
