package main

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	rpmutils "github.com/sassoftware/go-rpmutils"
)

// packageFiles are the files every package installs.
var packageFiles = []string{
	"/etc/sia-agent/env",
	"/etc/sia-agent/pipeline.yaml",
	"/usr/bin/sia-agent",
	"/usr/lib/systemd/system/sia-agent.service",
	"/usr/lib/sysusers.d/sia-agent.conf",
	"/usr/share/doc/sia-agent/LICENSE",
	"/usr/share/doc/sia-agent/README.md",
	"/usr/share/doc/sia-agent/SECURITY.md",
}

// configFiles are the operator's: an upgrade keeps the edited ones.
var configFiles = []string{"/etc/sia-agent/env", "/etc/sia-agent/pipeline.yaml"}

const (
	debFile = "sia-agent_1.2.3+4.gabcdef0-1_amd64.deb"
	rpmFile = "sia-agent-1.2.3+4.gabcdef0-1.x86_64.rpm"
)

func TestPackageVersion(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.0":                  "1.2.0",
		"1.2.0":                   "1.2.0",
		"v1.2.0-rc.1":             "1.2.0+rc.1",
		"v1.2.0-3-gabc1234":       "1.2.0+3.gabc1234",
		"v1.2.0-3-gabc1234-dirty": "1.2.0+3.gabc1234.dirty",
		"abc1234":                 "0.0.0~git.abc1234",
		"31f41bd-dirty":           "0.0.0~git.31f41bd.dirty",
		"dev":                     "0.0.0~git.dev",
	} {
		if got := packageVersion(in); got != want {
			t.Errorf("packageVersion(%q) = %q, want %q", in, got, want)
		}
	}
}

// The deb holds the agent, the unit, the sysusers entry and the
// operator's files, marked as configuration; unpacked into a scratch
// root, the agent there validates the pipeline there with the settings
// of the env file there, and systemd accepts the unit.
func TestDeb(t *testing.T) {
	deb := artifact(t, debFile)
	out, err := exec.Command("dpkg-deb", "--contents", deb).CombinedOutput()
	if err != nil {
		t.Fatalf("dpkg-deb --contents: %v\n%s", err, out)
	}
	var files []string
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		if name := strings.TrimPrefix(fields[len(fields)-1], "."); !strings.HasSuffix(name, "/") {
			files = append(files, name)
		}
	}
	if !slices.Equal(files, packageFiles) {
		t.Errorf("the deb holds\n%s\nwant\n%s", strings.Join(files, "\n"), strings.Join(packageFiles, "\n"))
	}
	scratch := t.TempDir()
	if out, err := exec.Command("dpkg-deb", "--control", deb, filepath.Join(scratch, "DEBIAN")).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --control: %v\n%s", err, out)
	}
	conffiles, err := os.ReadFile(filepath.Join(scratch, "DEBIAN/conffiles"))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Fields(string(conffiles)); !slices.Equal(got, configFiles) {
		t.Errorf("conffiles %q, want %q", got, configFiles)
	}
	for _, script := range []string{"postinst", "prerm", "postrm"} {
		if _, err := os.Stat(filepath.Join(scratch, "DEBIAN", script)); err != nil {
			t.Errorf("the deb has no %s: %v", script, err)
		}
	}

	rootfs := filepath.Join(scratch, "root")
	if out, err := exec.Command("dpkg-deb", "--extract", deb, rootfs).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --extract: %v\n%s", err, out)
	}
	runInstalled(t, rootfs)
	verifyUnit(t, rootfs)
}

// runInstalled runs the installed agent by path, with the installed
// pipeline and the settings of the installed env file, and the values
// the unit sets.
func runInstalled(t *testing.T, rootfs string) {
	t.Helper()
	env := []string{"POD_UID=3c5e4f1a", "SIA_DIR=" + t.TempDir(), "TMPDIR=" + t.TempDir()}
	f, err := os.Open(filepath.Join(rootfs, "etc/sia-agent/env"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := sc.Text(); line != "" && !strings.HasPrefix(line, "#") {
			env = append(env, line)
		}
	}
	bin := filepath.Join(rootfs, "usr/bin/sia-agent")
	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), testVersion) {
		t.Errorf("sia-agent version: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "validate", "--config", filepath.Join(rootfs, "etc/sia-agent/pipeline.yaml"), "--profile", "prod")
	cmd.Env = env
	out, err = cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "is valid with profile prod") {
		t.Errorf("sia-agent validate of the installed pipeline: %v\n%s", err, out)
	}
}

// verifyUnit runs systemd-analyze verify on the installed unit, with
// the host's system units beside it for the targets it names.
func verifyUnit(t *testing.T, rootfs string) {
	t.Helper()
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (apt-get install systemd): the installed unit is not verified")
	}
	units := filepath.Join(rootfs, "usr/lib/systemd/system")
	for _, dir := range []string{"/usr/lib/systemd/system", "/lib/systemd/system"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if _, err := os.Lstat(filepath.Join(units, e.Name())); err == nil || !e.Type().IsRegular() {
				continue
			}
			data, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err == nil {
				err = os.WriteFile(filepath.Join(units, e.Name()), data, 0o644)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	// The commands of the base system the unit runs besides the agent
	// (ExecReload's kill), as every installed system has them.
	for _, cmd := range []string{"/bin/kill"} {
		data, err := os.ReadFile(cmd)
		if err == nil {
			err = os.MkdirAll(filepath.Join(rootfs, filepath.Dir(cmd)), 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(rootfs, cmd), data, 0o755)
		}
		if err != nil {
			t.Fatalf("giving the scratch root the base system's %s: %v", cmd, err)
		}
	}
	out, err := exec.Command(analyze, "verify", "--root="+rootfs, filepath.Join(units, "sia-agent.service")).CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// The rpm holds the same files, the operator's marked as configuration
// that an upgrade does not replace, and the same scripts.
func TestRpm(t *testing.T) {
	f, err := os.Open(artifact(t, rpmFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rpm, err := rpmutils.ReadRpm(f)
	if err != nil {
		t.Fatal(err)
	}
	infos, err := rpm.Header.GetFiles()
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, fi := range infos {
		if fi.Mode()&0o170000 == 0o040000 { // a directory
			continue
		}
		files = append(files, fi.Name())
		config := fi.Flags()&rpmutils.RPMFILE_CONFIG != 0 && fi.Flags()&rpmutils.RPMFILE_NOREPLACE != 0
		if config != slices.Contains(configFiles, fi.Name()) {
			t.Errorf("%s: config(noreplace) %v", fi.Name(), config)
		}
		if fi.Name() == "/usr/bin/sia-agent" && fi.Mode()&0o777 != 0o755 {
			t.Errorf("%s: mode %o", fi.Name(), fi.Mode()&0o777)
		}
	}
	slices.Sort(files)
	if !slices.Equal(files, packageFiles) {
		t.Errorf("the rpm holds\n%s\nwant\n%s", strings.Join(files, "\n"), strings.Join(packageFiles, "\n"))
	}
	for _, tag := range []int{rpmutils.POSTIN, rpmutils.PREUN, rpmutils.POSTUN} {
		if s, err := rpm.Header.GetString(tag); err != nil || !strings.HasPrefix(s, "#!/bin/sh") {
			t.Errorf("script %d: %q, %v", tag, s, err)
		}
	}
}
