package sdk

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteFileAtomic(t *testing.T) {
	old := syscall.Umask(0o077) // the mode must not depend on the umask
	defer syscall.Umask(old)

	dir := t.TempDir()
	path := filepath.Join(dir, "cert.pem")
	for _, tc := range []struct {
		data string
		perm os.FileMode
	}{{"first", 0o644}, {"second, longer", 0o600}, {"", 0o644}} {
		if err := WriteFileAtomic(path, []byte(tc.data), tc.perm); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != tc.data {
			t.Errorf("content %q, want %q", got, tc.data)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != tc.perm {
			t.Errorf("mode %v, want %v", fi.Mode().Perm(), tc.perm)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only cert.pem", len(entries))
	}
}

func TestWriteFileAtomicMissingDir(t *testing.T) {
	if err := WriteFileAtomic(filepath.Join(t.TempDir(), "no", "such"), nil, 0o644); err == nil {
		t.Fatal("want an error for a missing directory")
	}
}

func TestRemoveAtomicTemps(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key.pem")
	keep := []string{"key.pem", "other.pem", ".other.pem.sia-tmp-1", ".key.pem.bak"}
	drop := []string{".key.pem.sia-tmp-123", ".key.pem.sia-tmp-"}
	for _, name := range append(append([]string(nil), keep...), drop...) {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := RemoveAtomicTemps(path); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(dir)
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if len(got) != len(keep) {
		t.Errorf("left %v, want %v", got, keep)
	}
	if err := RemoveAtomicTemps(filepath.Join(dir, "missing", "x")); err != nil {
		t.Errorf("missing directory: %v", err)
	}
}
