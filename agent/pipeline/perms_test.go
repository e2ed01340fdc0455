package pipeline

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// chmod sets the mode of path for the test, and puts it back after, so
// that t.TempDir can clean up.
func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(path, info.Mode()) })
}

// A plugin binary that others than its owner can replace, or that sits in
// a directory they can write to, is refused, like sshd's StrictModes.
func TestPluginWritableByOthersIsRefused(t *testing.T) {
	text := header + "providers:\n  - name: a\n    plugin: sia-plugin-a\n"
	for _, c := range []struct {
		name    string
		setup   func(t *testing.T, dir string) string // returns the path the error names
		pipeDir string                                // where p.yaml is, relative to dir
	}{
		{"binary", func(t *testing.T, dir string) string {
			path := filepath.Join(dir, "bin", "sia-plugin-a")
			chmod(t, path, 0o757)
			return path
		}, ""},
		{"its directory", func(t *testing.T, dir string) string {
			path := filepath.Join(dir, "bin")
			chmod(t, path, 0o777)
			return path
		}, ""},
		{"a directory above", func(t *testing.T, dir string) string {
			chmod(t, dir, 0o777)
			return dir
		}, ""},
		{"the target of a symlink", func(t *testing.T, dir string) string {
			open := filepath.Join(dir, "open")
			if err := os.Mkdir(open, 0o755); err != nil {
				t.Fatal(err)
			}
			chmod(t, open, 0o777)
			target := filepath.Join(open, "real-plugin")
			if err := os.WriteFile(target, []byte("#!/bin/sh\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(dir, "bin", "sia-plugin-a")
			if err := os.Remove(link); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, link); err != nil {
				t.Fatal(err)
			}
			return open
		}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := fixture(t)
			path := c.setup(t, dir)
			_, err := parse(t, dir, text, Options{})
			want := "p.yaml:6: providers[0].plugin: plugin \"sia-plugin-a\" at " + filepath.Join(dir, "bin", "sia-plugin-a") +
				": " + path + " is writable by any user"
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "chmod o-w "+path) {
				t.Fatalf("error = %v, want %q... and how to fix it", err, want)
			}
		})
	}
}

// Others may write to a directory with the sticky bit (like /tmp): they
// cannot replace what others put there. Group write is the owner's choice
// (a umask of 002 gives it to every file): allowed.
func TestPluginInStickyOrGroupWritableDirectoryIsAccepted(t *testing.T) {
	dir := fixture(t)
	chmod(t, dir, 0o777|os.ModeSticky)
	chmod(t, filepath.Join(dir, "bin"), 0o775)
	chmod(t, filepath.Join(dir, "bin", "sia-plugin-a"), 0o775)
	p := mustParse(t, dir, header+"providers:\n  - name: a\n    plugin: sia-plugin-a\n", Options{})
	if p.Providers[0].Path != filepath.Join(dir, "bin", "sia-plugin-a") {
		t.Errorf("path %q", p.Providers[0].Path)
	}
}
