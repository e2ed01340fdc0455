package token

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

// files.group gives the token files to that group, with files.mode, so
// that a workload of another UID reads them through it.
func TestTokenFilesGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving files to another group needs root")
	}
	z := startZTS(t, "")
	dir := t.TempDir()
	h := sdktest.New(t, &Provider{}, "token", z.config("targets: [{domain: sia.demo, roles: [reader]}]\n"+
		"files: {dir: "+dir+", mode: \"0640\", group: \"65534\"}\n"))
	h.Runtime.Mode = sdk.ModeInit
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sia.demo:role.reader.accesstoken", "sia.demo:role.reader.roletoken"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if gid := fi.Sys().(*syscall.Stat_t).Gid; fi.Mode().Perm() != 0o640 || gid != 65534 {
			t.Errorf("%s: mode %v, group %d; want 0640, 65534", name, fi.Mode().Perm(), gid)
		}
	}
}

func TestTokenFilesAccessConfig(t *testing.T) {
	t.Parallel()
	good := "endpoint: https://zts:4443/zts/v1\ncert_file: c\nkey_file: k\n"
	for files, want := range map[string]string{
		`{dir: /tmp/x, mode: "0602"}`:                "files.mode: 0602 lets others than the owner write",
		`{dir: /tmp/x, mode: "0660"}`:                "files.mode: 0660 lets others than the owner write",
		`{dir: /tmp/x, group: no-such-group-sia}`:    `files.group: group "no-such-group-sia"`,
		`{dir: /tmp/x, user: no-such-user-sia}`:      `files.user: user "no-such-user-sia"`,
		`{dir: /tmp/x, mode: "0644", group: "0"}`:    "",
		`{dir: /tmp/x, mode: "0600", user: "65534"}`: "",
	} {
		cfg, err := sdk.ParseConfig("p.yaml", good+"files: "+files+"\n")
		if err != nil {
			t.Fatal(err)
		}
		err = (&Provider{}).Validate(t.Context(), cfg)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("files %s: %v, want %q", files, err, want)
		}
	}
}
