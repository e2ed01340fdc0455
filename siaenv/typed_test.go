package siaenv

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// The converter sets the providers' typed config fields, so that renaming
// one breaks its build instead of writing a key the provider no longer
// reads. This type-checks the package against the cert provider with
// Config.Endpoint renamed, and against the real one.
func TestRenamedConfigFieldBreaksTheBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("type-checks the package and its dependencies from source")
	}
	fset := token.NewFileSet()
	src := exportImporter(t, fset)
	const certPath = "github.com/sia-agent/sia-agent/plugins/cert"

	if errs := check(t, fset, src); len(errs) > 0 {
		t.Fatalf("the package does not type-check as it is: %v", errs)
	}

	renamed := parseDir(t, fset, "../plugins/cert")
	if !renameField(renamed, "Config", "Endpoint", "ZTSEndpoint") {
		t.Fatal("no field cert.Config.Endpoint to rename")
	}
	// The cert package's own uses of the field break too; its types are
	// what matters here.
	fake, _ := (&types.Config{Importer: src, Error: func(error) {}}).Check(certPath, fset, renamed, nil)
	errs := check(t, fset, importerFunc(func(path string) (*types.Package, error) {
		if path == certPath {
			return fake, nil
		}
		return src.Import(path)
	}))
	for _, err := range errs {
		if strings.Contains(err.Error(), "Endpoint") {
			return
		}
	}
	t.Errorf("renaming cert.Config.Endpoint did not break the converter's build: %v", errs)
}

// exportImporter imports this package's dependencies from the export
// data the go command builds for them (cached, as for the test itself).
func exportImporter(t *testing.T, fset *token.FileSet) types.Importer {
	t.Helper()
	args := []string{"list", "-export", "-deps", "-f", "{{.ImportPath}}={{.Export}}"}
	if raceEnabled {
		args = append(args, "-race")
	}
	out, err := exec.Command("go", append(args, ".")...).Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	exports := make(map[string]string)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, file, ok := strings.Cut(line, "="); ok && file != "" {
			exports[path] = file
		}
	}
	return importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(file)
	})
}

type importerFunc func(path string) (*types.Package, error)

func (f importerFunc) Import(path string) (*types.Package, error) { return f(path) }

// check type-checks this package with imp and returns its errors.
func check(t *testing.T, fset *token.FileSet, imp types.Importer) []error {
	t.Helper()
	var errs []error
	conf := types.Config{Importer: imp, Error: func(err error) { errs = append(errs, err) }}
	_, _ = conf.Check("github.com/sia-agent/sia-agent/siaenv", fset, parseDir(t, fset, "."), nil)
	return errs
}

// parseDir parses the package in dir, tests left out.
func parseDir(t *testing.T, fset *token.FileSet, dir string) []*ast.File {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, name, b, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	return files
}

// renameField renames field of struct type typ in files.
func renameField(files []*ast.File, typ, field, to string) bool {
	found := false
	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			ts, ok := n.(*ast.TypeSpec)
			if !ok || ts.Name.Name != typ {
				return true
			}
			st, ok := ts.Type.(*ast.StructType)
			if !ok {
				return false
			}
			for _, fl := range st.Fields.List {
				for _, name := range fl.Names {
					if name.Name == field {
						name.Name, found = to, true
					}
				}
			}
			return false
		})
	}
	return found
}

// A typed config writes the fields set, zero values included, and only
// those, in the order of its type, each with the variables it came from.
func TestTypedWritesTheFieldsSet(t *testing.T) {
	type inner struct {
		B bool     `yaml:"b"`
		L []string `yaml:"l"`
	}
	type cfg struct {
		S     string `yaml:"s"`
		Unset string `yaml:"unset"`
		In    inner  `yaml:"in"`
		Empty inner  `yaml:"empty"`
		Flat  inner  `yaml:",inline"`
	}
	tc := newTyped[cfg]()
	set(tc, &tc.cfg.In.L, []string{"x"}, "L_VAR")
	set(tc, &tc.cfg.S, "", "S_VAR unset")
	set(tc, &tc.cfg.Flat.B, false, "")
	got := string(encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{tc.node()}}))
	want := "s: \"\" # S_VAR unset\nin:\n  l: # L_VAR\n    - x\nb: false\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
