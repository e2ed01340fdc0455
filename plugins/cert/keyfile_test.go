package cert

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/ztsdev"
)

// plantKey writes a new key to path with mode, as someone else would, and
// returns its PEM.
func plantKey(t *testing.T, path string, mode os.FileMode) []byte {
	t.Helper()
	key, err := generateKey(KeyConfig{Type: keyECDSA, Bits: 256})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, key.pem, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // whatever the umask
		t.Fatal(err)
	}
	return key.pem
}

// chownOrSkip gives path to another user, which only root can do.
func chownOrSkip(t *testing.T, path string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("changing a file's owner needs root")
	}
	if err := os.Lchown(path, 4242, 4242); err != nil {
		t.Fatal(err)
	}
}

// A key that others can read, that belongs to someone else, or that is a
// symbolic link the provider did not make is never adopted: Init fails
// naming the file and the problem, nothing reaches ZTS and the file is left
// as it was.
func TestUnsafeKeyFilesAreRefused(t *testing.T) {
	for _, tc := range []struct {
		name  string
		roles bool // the planted file is a role key file (key_output)
		plant func(t *testing.T, path string) []byte
		want  string
	}{
		{"world-readable", false, func(t *testing.T, path string) []byte { return plantKey(t, path, 0o644) },
			"mode 0644 lets others than its owner read or write it"},
		{"group-readable", false, func(t *testing.T, path string) []byte { return plantKey(t, path, 0o640) },
			"mode 0640 lets others than its owner read or write it"},
		{"another user's", false, func(t *testing.T, path string) []byte {
			pem := plantKey(t, path, 0o600)
			chownOrSkip(t, path)
			return pem
		}, "belongs to uid 4242"},
		{"symbolic link", false, func(t *testing.T, path string) []byte {
			planted := filepath.Join(t.TempDir(), "planted.pem")
			pem := plantKey(t, planted, 0o644)
			if err := os.Symlink(planted, path); err != nil {
				t.Fatal(err)
			}
			return pem
		}, "is a symbolic link to "},
		{"role key, world-readable", true, func(t *testing.T, path string) []byte { return plantKey(t, path, 0o644) },
			"mode 0644 lets others than its owner read or write it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			file := e.path("service.key.pem")
			if tc.roles {
				file = e.path("rolecerts/sia.demo:role.reader.key.pem")
			}
			planted := tc.plant(t, file)
			before, err := os.Lstat(file)
			if err != nil {
				t.Fatal(err)
			}
			_, h, _ := setup(t, e.config("role_certs:\n  targets: [sia.demo:role.reader]\n  key_output: true\n"))
			err = h.Init()
			if err == nil || !strings.Contains(err.Error(), file) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Init: %v; want an error naming %s and saying %q", err, file, tc.want)
			}
			if n := e.zts.Server.Requests(ztsdev.OpRegister) + e.zts.Server.Requests(ztsdev.OpRoleCert); n != 0 {
				t.Errorf("%d requests reached ZTS", n)
			}
			after, err := os.Lstat(file)
			if err != nil {
				t.Fatal(err)
			}
			if after.Mode() != before.Mode() || !os.SameFile(before, after) {
				t.Errorf("the planted file changed: %v, was %v", after.Mode(), before.Mode())
			}
			if got := readFile(t, file); !bytes.Equal(got, planted) {
				t.Error("the planted key was rewritten")
			}
		})
	}
}

// key.allow_insecure_permissions takes a key as it is; the provider's own
// files are 0600 all the same.
func TestInsecureKeyAllowedByConfig(t *testing.T) {
	e := newEnv(t)
	planted := plantKey(t, e.path("service.key.pem"), 0o644)
	_, h, _ := start(t, e.config("key:\n  type: ecdsa\n  allow_insecure_permissions: true\n"))
	h.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonNew, sdk.OutcomeSuccess))
	if got := readFile(t, e.path("service.key.pem")); !bytes.Equal(got, planted) {
		t.Error("the key allowed by the configuration was not kept")
	}
	if got := fileMode(t, e.path("service.key.pem")); got != 0o600 {
		t.Errorf("the key the provider wrote has mode %v, want 0600", got)
	}
	loadPair(t, e.path("service.cert.pem"), e.path("service.key.pem"))
}

// Mode existing reads a key another tool manages: through symbolic links
// (a Kubernetes secret volume is made of them), and group-readable (a
// key shared with a group, 0640, as /etc/ssl/private keys are), but not
// readable by everyone nor owned by another user (root aside).
func TestExistingKeyPermissions(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T, dir string)
		want  string // "" for accepted
	}{
		{"0600", func(*testing.T, string) {}, ""},
		{"0640", func(t *testing.T, dir string) { chmod(t, filepath.Join(dir, "key.pem"), 0o640) }, ""},
		{"0440 through a link", func(t *testing.T, dir string) {
			key := filepath.Join(dir, "key.pem")
			chmod(t, key, 0o440)
			if err := os.Rename(key, filepath.Join(dir, "real.pem")); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("real.pem", key); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"0644", func(t *testing.T, dir string) { chmod(t, filepath.Join(dir, "key.pem"), 0o644) },
			"mode 0644 lets other users read it or its group write it"},
		{"0660", func(t *testing.T, dir string) { chmod(t, filepath.Join(dir, "key.pem"), 0o660) },
			"mode 0660 lets other users read it or its group write it"},
		{"another user's", func(t *testing.T, dir string) { chownOrSkip(t, filepath.Join(dir, "key.pem")) },
			"belongs to uid 4242"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			ext := t.TempDir()
			writePair(t, e, ext)
			tc.setup(t, ext)
			x := &existingFiles{keyFile: filepath.Join(ext, "key.pem"), certFile: filepath.Join(ext, "cert.pem")}
			_, _, err := x.check()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("check: %v, want the pair accepted", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), x.keyFile) || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("check: %v; want an error naming %s and saying %q", err, x.keyFile, tc.want)
			}
		})
	}
}

func chmod(t *testing.T, path string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

// The message says what to do about it.
func TestUnsafeKeyErrorSaysWhatToDo(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k.pem")
	plantKey(t, path, 0o644)
	_, err := readKeyFile(path, keyPolicy{})
	want := fmt.Sprintf("key file %s: its mode 0644 lets others than its owner read or write it; "+
		"refusing to use it (remove it to have a new key made, or set key.allow_insecure_permissions)", path)
	if err == nil || err.Error() != want {
		t.Errorf("got  %v\nwant %s", err, want)
	}
}
