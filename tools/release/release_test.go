package main

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The artifacts' tests build them as a release would, with the
// Makefile, for linux/amd64 (the other platforms cross-compile the same
// code: `make dist` builds them), into a temporary directory.
const (
	testVersion = "v1.2.3-4-gabcdef0"
	testCommit  = "0123456789abcdef0123456789abcdef01234567"
	testEpoch   = 1700000000
)

var (
	root    string // the repository
	built   string // the temporary directory: bin/ and dist/
	distDir string
)

func TestMain(m *testing.M) {
	code, err := setUp(m)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	if built != "" {
		os.RemoveAll(built)
	}
	os.Exit(code)
}

func setUp(m *testing.M) (int, error) {
	var err error
	if root, err = filepath.Abs("../.."); err != nil {
		return 0, err
	}
	if built, err = os.MkdirTemp("", "sia-release-test-"); err != nil {
		return 0, err
	}
	distDir = filepath.Join(built, "dist")
	if out, err := makeDist(distDir); err != nil {
		return 0, fmt.Errorf("make dist: %v\n%s", err, out)
	}
	return m.Run(), nil
}

// makeDist runs `make dist` for linux/amd64 into dir, with the binaries
// in the test's bin directory.
func makeDist(dir string) ([]byte, error) {
	cmd := exec.Command("make", "-C", root, "dist", "PLATFORMS=linux/amd64",
		"BIN="+filepath.Join(built, "bin"), "DIST="+dir,
		"VERSION="+testVersion, "COMMIT="+testCommit, fmt.Sprintf("SOURCE_DATE_EPOCH=%d", testEpoch))
	return cmd.CombinedOutput()
}

// artifact is the path of dist's file name.
func artifact(t *testing.T, name string) string {
	t.Helper()
	path := filepath.Join(distDir, name)
	if _, err := os.Stat(path); err != nil {
		entries, _ := os.ReadDir(distDir)
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("%s: %v; dist holds %s", name, err, strings.Join(names, ", "))
	}
	return path
}

func releaseBinary() string { return filepath.Join(built, "bin/release/linux_amd64/sia-agent") }

// The version command names the version and the commit the Makefile
// stamped.
func TestVersionStamped(t *testing.T) {
	out, err := exec.Command(releaseBinary(), "version").CombinedOutput()
	if err != nil {
		t.Fatalf("sia-agent version: %v\n%s", err, out)
	}
	want := fmt.Sprintf("sia-agent %s (commit %s, go", testVersion, testCommit)
	if !strings.HasPrefix(string(out), want) || !strings.Contains(string(out), "linux/amd64") {
		t.Errorf("sia-agent version printed %q, want %q... linux/amd64", out, want)
	}
}

// A release binary is static: no interpreter, no shared library, no cgo;
// and it holds no path of the machine that built it.
func TestReleaseBinaryIsStatic(t *testing.T) {
	f, err := elf.Open(releaseBinary())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("program header %v: the binary is dynamically linked", p.Type)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs %v", libs)
	}
	out, err := exec.Command("go", "version", "-m", releaseBinary()).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, out)
	}
	for _, want := range []string{"build\tCGO_ENABLED=0", "build\t-trimpath=true", "build\t-tags=grpcnotrace"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("go version -m lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "vcs.") {
		t.Errorf("the binary carries VCS stamps (they change with the checkout's state):\n%s", out)
	}
	assertNoLocalPaths(t, releaseBinary())
}

// assertNoLocalPaths fails if file holds the repository's path, the
// module cache's, GOROOT's or the home directory's.
func assertNoLocalPaths(t *testing.T, file string) {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	paths := []string{root, built, goEnv(t, "GOMODCACHE"), goEnv(t, "GOROOT")}
	if home, err := os.UserHomeDir(); err == nil && home != "/" {
		paths = append(paths, home+"/")
	}
	for _, p := range paths {
		if p != "" && bytes.Contains(data, []byte(p)) {
			t.Errorf("%s holds the local path %s", filepath.Base(file), p)
		}
	}
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatalf("go env %s: %v", name, err)
	}
	return strings.TrimSpace(string(out))
}

// The same commit, checked out at two other paths and built there, one
// of them with an empty build cache (every package compiled afresh),
// gives the same bytes.
func TestReleaseBuildIsReproducible(t *testing.T) {
	if testing.Short() {
		t.Skip("builds sia-agent twice, once without a cache")
	}
	var sums []string
	for i, cache := range []string{"", t.TempDir()} {
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("checkout-%d", i))
		if out, err := exec.Command("git", "clone", "--quiet", "--no-hardlinks", root, dir).CombinedOutput(); err != nil {
			t.Fatalf("git clone: %v\n%s", err, out)
		}
		cmd := exec.Command("make", "-C", dir, "bin/release/linux_amd64/sia-agent", "VERSION="+testVersion, "COMMIT="+testCommit)
		if cache != "" {
			cmd.Env = append(os.Environ(), "GOCACHE="+cache)
		}
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make in %s: %v\n%s", dir, err, out)
		}
		bin := filepath.Join(dir, "bin/release/linux_amd64/sia-agent")
		sum, err := sha256File(bin)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("built in %s (cache %q) in %v: sha256 %s", dir, cache, time.Since(start).Round(time.Second), sum)
		assertNoLocalPaths(t, bin)
		sums = append(sums, sum)
	}
	if sums[0] != sums[1] {
		t.Errorf("two builds of one commit differ: %s and %s", sums[0], sums[1])
	}
}

// make dist run again from the same binaries writes the same bytes:
// archive, image, packages, SBOM and sums alike.
func TestDistIsReproducible(t *testing.T) {
	again := filepath.Join(built, "dist-again")
	if out, err := makeDist(again); err != nil {
		t.Fatalf("make dist: %v\n%s", err, out)
	}
	first, err := os.ReadFile(artifact(t, sumsFile))
	if err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(filepath.Join(again, sumsFile))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Errorf("make dist wrote other bytes the second time:\n%s\n---\n%s", first, second)
	}
}

// SHA256SUMS lists every artifact with its digest, as sha256sum -c reads
// it.
func TestSums(t *testing.T) {
	data, err := os.ReadFile(artifact(t, sumsFile))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("line %q is not <sha256>  <name>", line)
		}
		got, err := sha256File(filepath.Join(distDir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got != sum {
			t.Errorf("%s: sha256 %s, SHA256SUMS says %s", name, got, sum)
		}
		listed[name] = true
	}
	entries, err := os.ReadDir(distDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != sumsFile && !listed[e.Name()] {
			t.Errorf("%s is not in SHA256SUMS", e.Name())
		}
	}
	if len(listed) != 7 {
		t.Errorf("SHA256SUMS lists %d artifacts, want 7 (archive, OCI and docker archives, deb, rpm, the SBOMs of sia-agent and sia-plugin-k8s-secret):\n%s", len(listed), data)
	}
}

func sha256Bytes(b []byte) string { return fmt.Sprintf("%x", sha256.Sum256(b)) }
