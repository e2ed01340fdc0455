package fileperm

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"gopkg.in/yaml.v3"
)

func TestMode(t *testing.T) {
	for in, want := range map[string]Mode{"0640": 0o640, "640": 0o640, "0o600": 0o600, `"0444"`: 0o444} {
		var m Mode
		if err := yaml.Unmarshal([]byte(in), &m); err != nil || m != want {
			t.Errorf("%s: %v, %v; want %v", in, m, err, want)
		}
	}
	for _, in := range []string{"0800", "rw-r-----", "01777"} {
		var m Mode
		if err := yaml.Unmarshal([]byte(in), &m); err == nil {
			t.Errorf("%s: %v, want an error", in, m)
		}
	}
}

func TestCheckMode(t *testing.T) {
	for _, c := range []struct {
		mode Mode
		key  bool
		want string // part of the error; "" for none
	}{
		{0o600, true, ""},
		{0o640, true, ""},
		{0o440, true, ""},
		{0o400, true, ""},
		{0o644, false, ""},
		{0o444, false, ""},
		{0o644, true, "lets any user read the private key"},
		{0o604, true, "lets any user read the private key"},
		{0o602, false, "lets others than the owner write"},
		{0o660, true, "lets others than the owner write"},
		{0o620, false, "lets others than the owner write"},
		{0o640 | 0o100, true, "executable"},
		{0o040, true, "would not let the owner read"},
	} {
		err := CheckMode(c.mode, c.key)
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("CheckMode(%v, key %v) = %v, want %q", c.mode, c.key, err, c.want)
		}
	}
}

func TestDirMode(t *testing.T) {
	for _, c := range []struct {
		modes []os.FileMode
		want  os.FileMode
	}{
		{[]os.FileMode{0o600, 0o644}, 0o755},
		{[]os.FileMode{0o640, 0o640}, 0o750},
		{[]os.FileMode{0o600, 0o600}, 0o700},
		{[]os.FileMode{0o440, 0o444}, 0o755},
	} {
		if got := DirMode(c.modes...); got != c.want {
			t.Errorf("DirMode(%o) = %o, want %o", c.modes, got, c.want)
		}
	}
}

func TestIDs(t *testing.T) {
	uid, gid, err := Owner{User: "0", Group: "65534"}.IDs()
	if err != nil || uid != 0 || gid != 65534 {
		t.Errorf("numbers: %d, %d, %v", uid, gid, err)
	}
	uid, gid, err = Owner{}.IDs()
	if err != nil || uid != -1 || gid != -1 {
		t.Errorf("none: %d, %d, %v", uid, gid, err)
	}
	if uid, _, err = (Owner{User: "root"}).IDs(); err != nil || uid != 0 {
		t.Errorf("root: %d, %v", uid, err)
	}
	if _, _, err = (Owner{Group: "no-such-group-sia"}).IDs(); err == nil || !strings.Contains(err.Error(), `group "no-such-group-sia"`) {
		t.Errorf("unknown group: %v", err)
	}
	if _, _, err = (Owner{User: "no-such-user-sia"}).IDs(); err == nil || !strings.Contains(err.Error(), `user "no-such-user-sia"`) {
		t.Errorf("unknown user: %v", err)
	}
}

// WriteFile gives the file its group and mode; over an earlier file it
// replaces it whole.
func TestWriteFile(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving a file to another group needs root")
	}
	path := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, []byte("new"), Perm{Mode: 0o640, UID: 65534, GID: 65534}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o640 || st.Uid != 65534 || st.Gid != 65534 {
		t.Errorf("mode %o, owner %d:%d; want 0640, 65534:65534", fi.Mode().Perm(), st.Uid, st.Gid)
	}
	if data, _ := os.ReadFile(path); string(data) != "new" {
		t.Errorf("content %q", data)
	}
	if ok, problem := (Perm{UID: 65534, GID: 65534}).Owns(fi); !ok {
		t.Errorf("Owns: %s", problem)
	}
	if ok, _ := (Perm{UID: 65534, GID: 0}).Owns(fi); ok {
		t.Errorf("Owns: a group-readable file of group 65534 is not one of group 0")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("left behind: %v", entries)
	}
}
