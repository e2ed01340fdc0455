package cert

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sia-agent/sia-agent/sdk"
)

// nobody is the group the tests give files to, and the user of a reader
// in that group.
const nobody = 65534

// owner returns path's (not following a link) mode, uid and gid.
func owner(t *testing.T, path string) (os.FileMode, uint32, uint32) {
	t.Helper()
	fi, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fi.Mode(), st.Uid, st.Gid
}

// readAs reads path as uid with the supplementary groups, as a workload
// of another UID would.
func readAs(path string, uid uint32, groups ...uint32) error {
	cmd := exec.Command("cat", path)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid, Groups: groups}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return errors.New(strings.TrimSpace(string(out)))
	}
	return nil
}

// With files.group, the identity key and certificate, their generation
// directory and the links to them belong to that group, and the key is
// readable by it (0640, as Athenz's siad makes a key its group reads):
// a workload of another UID in the group reads the key, one outside it
// cannot. Role certificates and keys take files' settings unless
// role_certs has its own. A restart takes the group-readable key over.
func TestGroupReadsTheKeys(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another group, and reading them as another user, needs root")
	}
	e := newEnv(t)
	// The test's directories are the test user's alone (0700).
	for _, dir := range []string{filepath.Dir(e.dir), e.dir} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cfg := e.config("files:\n  dir: " + e.dir + "\n  group: \"65534\"\n  combined: service.combined.pem\n" +
		"role_certs:\n  targets: [sia.demo:role.reader]\n  key_output: true\n  cert_mode: 0640\n")
	_, h, _ := start(t, cfg)
	h.Host.WaitRecord(t, waitRecord, isRecord(reader, sdk.ReasonNew, sdk.OutcomeSuccess))

	gen, err := os.Readlink(e.path("..service.key.pem.data"))
	if err != nil {
		t.Fatal(err)
	}
	roleGen, err := os.Readlink(e.path("rolecerts/..sia.demo:role.reader.key.pem.data"))
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]os.FileMode{
		gen + "/service.key.pem":  0o640,
		gen + "/service.cert.pem": 0o644,
		gen:                       os.ModeDir | 0o755,
		"service.combined.pem":    0o640,
		"ca.cert.pem":             0o644,
		"rolecerts/" + roleGen + "/sia.demo:role.reader.key.pem":  0o640,
		"rolecerts/" + roleGen + "/sia.demo:role.reader.cert.pem": 0o640,
		"rolecerts/" + roleGen: os.ModeDir | 0o750,
	} {
		if mode, _, gid := owner(t, e.path(name)); mode != want || gid != nobody {
			t.Errorf("%s: mode %v, group %d; want %v, %d", name, mode, gid, want, nobody)
		}
	}
	for _, link := range []string{"service.key.pem", "service.cert.pem", "..service.key.pem.data", "rolecerts/sia.demo:role.reader.key.pem"} {
		if mode, _, gid := owner(t, e.path(link)); mode&os.ModeSymlink == 0 || gid != nobody {
			t.Errorf("link %s: mode %v, group %d; want a link of group %d", link, mode, gid, nobody)
		}
	}
	if err := readAs(e.path("service.key.pem"), 4242, nobody); err != nil {
		t.Errorf("a reader in the group cannot read the key: %v", err)
	}
	if err := readAs(e.path("rolecerts/sia.demo:role.reader.key.pem"), 4242, nobody); err != nil {
		t.Errorf("a reader in the group cannot read the role key: %v", err)
	}
	if err := readAs(e.path("service.key.pem"), 4242); err == nil {
		t.Error("a reader outside the group reads the key")
	}
	if err := h.Shutdown(); err != nil {
		t.Fatal(err)
	}

	_, again, _ := start(t, cfg)
	again.Host.WaitRecord(t, waitRecord, isRecord(identityName, sdk.ReasonIsGood, sdk.OutcomeSuccess))
	again.Host.WaitRecord(t, waitRecord, isRecord(reader, sdk.ReasonIsGood, sdk.OutcomeSuccess))
}

// A group-readable key that another group may read is not taken over: it
// is not the one the provider wrote.
func TestGroupReadableKeyOfAnotherGroupIsRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another group needs root")
	}
	e := newEnv(t)
	cfg := e.config("files:\n  dir: " + e.dir + "\n  group: \"65534\"\n")
	_, h, _ := start(t, cfg)
	if err := h.Shutdown(); err != nil {
		t.Fatal(err)
	}
	key, err := filepath.EvalSymlinks(e.path("service.key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(key, -1, 4242); err != nil {
		t.Fatal(err)
	}
	_, again, _ := setup(t, cfg)
	err = again.Init()
	if err == nil || !strings.Contains(err.Error(), "its group 4242 may read it, not the configured group 65534") {
		t.Errorf("Init: %v, want the key refused", err)
	}
}

func TestAccessConfig(t *testing.T) {
	e := newEnv(t)
	for _, c := range []struct{ files, want string }{
		{"  key_mode: 0644\n", "files.key_mode: 0644 lets any user read the private key"},
		{"  cert_mode: 0646\n", "files.cert_mode: 0646 lets others than the owner write"},
		{"  key_mode: 0660\n", "files.key_mode: 0660 lets others than the owner write"},
		{"  group: no-such-group-sia\n", `files.group: group "no-such-group-sia"`},
		{"  user: no-such-user-sia\n", `files.user: user "no-such-user-sia"`},
	} {
		err := New().Validate(context.Background(), mustParse(t, e.config("files:\n  dir: "+e.dir+"\n"+c.files)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: %v, want %q", c.files, err, c.want)
		}
	}
	s, err := loadSettings(mustParse(t, e.config("files:\n  dir: "+e.dir+"\n  group: \"0\"\nrole_certs:\n  group: \"65534\"\n")))
	if err != nil {
		t.Fatal(err)
	}
	if s.idPerms.key.Mode != 0o640 || s.idPerms.key.GID != 0 || s.rolePerms.key.Mode != 0o640 || s.rolePerms.key.GID != nobody ||
		s.rolePerms.cert.Mode != 0o644 {
		t.Errorf("identity %+v, roles %+v", *s.idPerms, *s.rolePerms)
	}
}

func mustParse(t *testing.T, text string) sdk.Config {
	t.Helper()
	cfg, err := sdk.ParseConfig("pipeline.yaml", text)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}
