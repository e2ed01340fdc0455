// Command modproxy writes one version of a module, from its directory, as
// a Go module proxy serves it, so that GOPROXY=file://DIR makes that
// version available before it is tagged. It is how the repository checks
// that examples/hello-provider builds against the SDK by version, exactly
// as a third party's module would (scripts/check-example.sh):
//
//	go run ./internal/cmd/modproxy -module ./sdk -version v0.1.0 -out /tmp/proxy
//
// The zip holds what the directory holds now, committed or not, made by
// golang.org/x/mod/zip under the rules the go command checks.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

func main() {
	dir := flag.String("module", "", "the module's directory (where its go.mod is)")
	version := flag.String("version", "", "the version to serve it as, e.g. v0.1.0")
	out := flag.String("out", "", "the proxy's directory, for GOPROXY=file://<out>")
	flag.Parse()
	if *dir == "" || *version == "" || *out == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: modproxy -module DIR -version vX.Y.Z -out PROXYDIR")
		os.Exit(2)
	}
	if err := write(*dir, *version, *out); err != nil {
		fmt.Fprintln(os.Stderr, "modproxy:", err)
		os.Exit(1)
	}
}

// write adds version of the module in dir to the proxy in out: the files
// a proxy answers $module/@v/list, .info, .mod and .zip with.
func write(dir, version, out string) error {
	gomod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return err
	}
	path := modfile.ModulePath(gomod)
	if path == "" {
		return fmt.Errorf("%s/go.mod names no module", dir)
	}
	mv := module.Version{Path: path, Version: version}
	if err := module.Check(path, version); err != nil {
		return err
	}
	escaped, err := module.EscapePath(path)
	if err != nil {
		return err
	}
	vdir := filepath.Join(out, escaped, "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return err
	}
	info, err := json.Marshal(struct {
		Version string
		Time    time.Time
	}{version, time.Now().UTC().Truncate(time.Second)})
	if err != nil {
		return err
	}
	for name, data := range map[string][]byte{"list": []byte(version + "\n"), version + ".info": info, version + ".mod": gomod} {
		if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil {
			return err
		}
	}
	return writeZip(filepath.Join(vdir, version+".zip"), mv, dir)
}

// writeZip writes the module zip of mv from dir.
func writeZip(file string, mv module.Version, dir string) error {
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	err = zip.CreateFromDir(f, mv, dir)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return errors.Join(fmt.Errorf("zipping %s as %s: %w", dir, mv, err), os.Remove(file))
	}
	return nil
}
