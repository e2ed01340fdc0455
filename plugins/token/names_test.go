package token

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

// Templates name the files of their kind; a kind without one goes to
// files.dir as before, and with no dir gets no files.
func TestTokenFileNameTemplates(t *testing.T) {
	z := startZTS(t, "")
	dir := t.TempDir()
	h := sdktest.New(t, &Provider{}, "token", z.config("targets: [{domain: sia.demo, roles: [reader]}, {domain: sia.demo}]\n"+
		"files: {access_token_name: \""+dir+"/at/{{domain}}{{delimiter}}{{role}}.jwt\", delimiter: _}\n"))
	h.Runtime.Mode = sdk.ModeInit
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"at/sia.demo_reader.jwt", "at/sia.demo.jwt"} {
		if data, err := os.ReadFile(filepath.Join(dir, name)); err != nil || len(data) == 0 {
			t.Errorf("%s: %q, %v", name, data, err)
		}
	}
	var found []string
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			found = append(found, strings.TrimPrefix(path, dir+"/"))
		}
		return nil
	})
	if len(found) != 2 {
		t.Errorf("files written: %v; want the two access tokens alone", found)
	}
}

func TestTokenFileNameProblems(t *testing.T) {
	t.Parallel()
	good := "endpoint: https://zts:4443/zts/v1\ncert_file: c\nkey_file: k\ntargets: [{domain: a, roles: [r1]}, {domain: a, roles: [r2]}]\n"
	for files, want := range map[string]string{
		`{access_token_name: "/t/{{domain}}{{service}}"}`:                                        `files.access_token_name: "/t/{{domain}}{{service}}": unknown {{service}}`,
		`{role_token_name: "/t/{{domain}"}`:                                                      "files.role_token_name: \"/t/{{domain}\": {{ without }}",
		`{role_token_name: "/t/{{domain}}.rt"}`:                                                  "files.role_token_name: the roletoken a:r1 and the roletoken a:r2 would both be written to /t/a.rt",
		`{access_token_name: "/t/{{domain}}{{role}}", role_token_name: "/t/{{domain}}{{role}}"}`: "would both be written to /t/ar1",
		`{access_token_name: "/t/{{domain}}{{delimiter}}{{role}}.at", dir: /t}`:                  "",
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
