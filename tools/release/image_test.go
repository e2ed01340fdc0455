package main

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// imageFiles is the image's file system, name and mode: nothing more,
// no shell in particular.
var imageFiles = map[string]int64{
	"etc":                               0o755,
	"etc/group":                         0o644,
	"etc/passwd":                        0o644,
	"etc/sia-agent":                     0o755,
	"etc/sia-agent/pipeline.yaml":       0o644,
	"etc/ssl":                           0o755,
	"etc/ssl/certs":                     0o755,
	"etc/ssl/certs/ca-certificates.crt": 0o644,
	"tmp":                               0o1777,
	"usr":                               0o755,
	"usr/bin":                           0o755,
	"usr/bin/sia-agent":                 0o755,
	"usr/bin/sia-plugin-k8s-secret":     0o755,
}

// ociImage opens the OCI archive and returns its one image, after
// checking the index names its platform and tag.
func ociImage(t *testing.T) v1.Image {
	t.Helper()
	f, err := os.Open(artifact(t, "sia-agent_"+testVersion+"_image.oci.tar"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dir := t.TempDir()
	for name, e := range readTar(t, f) {
		path := filepath.Join(dir, name)
		if e.dir {
			err = os.MkdirAll(path, 0o755)
		} else if err = os.MkdirAll(filepath.Dir(path), 0o755); err == nil {
			err = os.WriteFile(path, e.data, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Manifests) != 1 {
		t.Fatalf("the index has %d images, want 1 (linux/amd64)", len(im.Manifests))
	}
	desc := im.Manifests[0]
	if p := desc.Platform; p == nil || p.OS != "linux" || p.Architecture != "amd64" {
		t.Errorf("the image's platform is %v, want linux/amd64", p)
	}
	if ref := desc.Annotations["org.opencontainers.image.ref.name"]; ref != testVersion {
		t.Errorf("the image's tag is %q, want %q", ref, testVersion)
	}
	img, err := idx.Image(desc.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// The image runs sia-agent as nobody (65534), with the production
// pipeline by default.
func TestImageConfig(t *testing.T) {
	cfg, err := ociImage(t).ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.Config
	if !slices.Equal(c.Entrypoint, []string{"/usr/bin/sia-agent"}) ||
		!slices.Equal(c.Cmd, []string{"run", "--config", "/etc/sia-agent/pipeline.yaml"}) {
		t.Errorf("entrypoint %q, cmd %q", c.Entrypoint, c.Cmd)
	}
	if c.User != "65534:65534" {
		t.Errorf("user %q, want 65534:65534", c.User)
	}
	if cfg.OS != "linux" || cfg.Architecture != "amd64" {
		t.Errorf("platform %s/%s", cfg.OS, cfg.Architecture)
	}
	if v, r := c.Labels["org.opencontainers.image.version"], c.Labels["org.opencontainers.image.revision"]; v != testVersion || r != testCommit {
		t.Errorf("labels: version %q, revision %q", v, r)
	}
}

// The docker archive holds the same image as the OCI archive.
func TestDockerArchiveIsTheSameImage(t *testing.T) {
	docker, err := tarball.ImageFromPath(artifact(t, "sia-agent_"+testVersion+"_image_linux_amd64.docker.tar"), nil)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ociImage(t).ConfigName()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := docker.ConfigName(); err != nil || got != want {
		t.Errorf("docker archive's image %v (%v), OCI archive's %v", got, err, want)
	}
}

// The image's files are the expected ones, and the agent runs from them:
// chrooted into the unpacked image as nobody, it validates the
// production pipeline, launching its built-in providers from its own
// binary.
func TestImageRuns(t *testing.T) {
	entries := readTar(t, mutate.Extract(ociImage(t)))
	got := map[string]int64{}
	for name, e := range entries {
		got[name] = e.mode
	}
	for _, name := range names(got) {
		if want, ok := imageFiles[name]; !ok || got[name] != want {
			t.Errorf("the image holds %s, mode %o; want %v", name, got[name], imageFiles[name])
		}
	}
	for _, name := range names(imageFiles) {
		if _, ok := got[name]; !ok {
			t.Errorf("the image lacks %s", name)
		}
	}
	rootfs := unpack(t, entries)
	runFromRoot(t, rootfs, "/usr/bin/sia-agent", "/etc/sia-agent/pipeline.yaml", productionEnv)
}

// productionEnv is what configs/production.yaml needs to validate.
var productionEnv = []string{
	"ZTS_URL=https://zts.athenz.example.com:4443/zts/v1", "ATHENZ_PROVIDER=sys.auth.k8s",
	"ATHENZ_DOMAIN=sports", "ATHENZ_SERVICE=api", "POD_UID=3c5e4f1a",
}

// unpack writes entries into a new directory, as a container runtime
// would; and, as it would, gives it a /dev/null.
func unpack(t *testing.T, entries map[string]tarEntry) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range names(entries) {
		e, path := entries[name], filepath.Join(dir, name)
		var err error
		if e.dir {
			err = os.Mkdir(path, fs.FileMode(e.mode).Perm())
		} else {
			err = os.WriteFile(path, e.data, fs.FileMode(e.mode).Perm())
		}
		if err == nil {
			err = os.Chmod(path, fs.FileMode(e.mode&0o777)|stickyIf(e.mode))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if os.Geteuid() == 0 {
		if err := os.MkdirAll(filepath.Join(dir, "dev"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mknod(filepath.Join(dir, "dev/null"), syscall.S_IFCHR|0o666, 1<<8|3); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func stickyIf(mode int64) fs.FileMode {
	if mode&0o1000 != 0 {
		return fs.ModeSticky
	}
	return 0
}

// runFromRoot runs `sia-agent version` and `sia-agent validate` of
// pipeline from the unpacked root: chrooted into it as nobody when the
// test runs as root, else by path.
func runFromRoot(t *testing.T, rootfs, bin, pipeline string, env []string) {
	t.Helper()
	command := func(args ...string) *exec.Cmd {
		if os.Geteuid() != 0 {
			cmd := exec.Command(filepath.Join(rootfs, bin), args...)
			cmd.Env = append(env, "TMPDIR="+t.TempDir())
			return cmd
		}
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		cmd.Dir = "/"
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: rootfs, Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		return cmd
	}
	if os.Geteuid() != 0 {
		t.Logf("not root: running %s by path, not chrooted", bin)
		pipeline = filepath.Join(rootfs, pipeline)
	}
	out, err := command("version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), testVersion) {
		t.Errorf("sia-agent version: %v\n%s", err, out)
	}
	out, err = command("validate", "--config", pipeline, "--profile", "prod").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "is valid with profile prod: 4 of 4 providers enabled") {
		t.Errorf("sia-agent validate: %v\n%s", err, out)
	}
}

// The Dockerfile builds the image `make image` assembles: the same
// files with the same modes, the same user, entrypoint and command.
func TestDockerfileMatchesImage(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(root, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	install := regexp.MustCompile(`install (-D|-d) -m ([0-7]+) (?:\S+ )?/rootfs/(\S+)`)
	got := map[string]int64{}
	for _, m := range install.FindAllStringSubmatch(text, -1) {
		mode, _ := strconv.ParseInt(m[2], 8, 64)
		got[m[3]] = mode
	}
	for name, mode := range imageFiles {
		if got[name] != mode && !isParent(name) {
			t.Errorf("the Dockerfile installs %s with mode %o, make image with %o", name, got[name], mode)
		}
	}
	for name := range got {
		if _, ok := imageFiles[name]; !ok {
			t.Errorf("the Dockerfile installs %s, which make image does not", name)
		}
	}
	final := text[strings.LastIndex(text, "FROM "):]
	sc := bufio.NewScanner(bytes.NewReader([]byte(final)))
	var lines []string
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	for _, want := range []string{"FROM scratch", `USER 65534:65534`, `ENTRYPOINT ["/usr/bin/sia-agent"]`,
		`CMD ["run", "--config", "/etc/sia-agent/pipeline.yaml"]`, "ENV PATH=/usr/bin"} {
		if !slices.Contains(lines, want) {
			t.Errorf("the Dockerfile's final stage lacks %q", want)
		}
	}
}

// isParent reports whether name is a directory made for what is below
// it (install -D makes those).
func isParent(name string) bool {
	for other := range imageFiles {
		if strings.HasPrefix(other, name+"/") {
			return true
		}
	}
	return false
}
