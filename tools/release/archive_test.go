package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// tarEntry is what the tests check of an archive's entry.
type tarEntry struct {
	mode int64
	dir  bool
	data []byte
}

// readTar reads a tar stream; every entry must be root's and dated
// testEpoch.
func readTar(t *testing.T, r io.Reader) map[string]tarEntry {
	t.Helper()
	entries := map[string]tarEntry{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return entries
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(time.Unix(testEpoch, 0)) {
			t.Errorf("%s: owner %d:%d, time %v; want 0:0 and the commit's time", h.Name, h.Uid, h.Gid, h.ModTime)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		entries[strings.TrimSuffix(h.Name, "/")] = tarEntry{mode: h.Mode, dir: h.Typeflag == tar.TypeDir, data: data}
	}
}

func names[V any](m map[string]V) []string {
	var ns []string
	for n := range m {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

// The archive holds the agent (no zts-dev: that is for the darwin
// archives only), the license and the production configuration, below a
// directory of its name.
func TestArchive(t *testing.T) {
	f, err := os.Open(artifact(t, "sia-agent_"+testVersion+"_linux_amd64.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	entries := readTar(t, zr)
	const dir = "sia-agent_" + testVersion + "_linux_amd64/"
	want := []string{"LICENSE", "README.md", "SECURITY.md", "configs", "configs/production.yaml", "configs/systemd",
		"configs/systemd/sia-agent.env", "configs/systemd/sia-agent.service", "sia-agent", "sia-plugin-k8s-secret"}
	for i, w := range want {
		want[i] = dir + w
	}
	if got := names(entries); !slices.Equal(got, want) {
		t.Errorf("archive holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	bin, err := os.ReadFile(releaseBinary())
	if err != nil {
		t.Fatal(err)
	}
	if e := entries[dir+"sia-agent"]; e.mode != 0o755 || sha256Bytes(e.data) != sha256Bytes(bin) {
		t.Errorf("sia-agent: mode %o, or not the release binary", e.mode)
	}
}

// The SBOMs are CycloneDX JSON naming the release's version and the
// modules linked into each binary, with their versions: sia-agent's no
// Kubernetes client, the k8s-secret plugin's client-go.
func TestSBOM(t *testing.T) {
	for _, c := range []struct {
		binary       string
		want, absent []string
	}{
		{"sia-agent", []string{"github.com/hashicorp/go-plugin", "github.com/AthenZ/athenz", "google.golang.org/grpc", "std"}, []string{"k8s.io/client-go"}},
		{"sia-plugin-k8s-secret", []string{"github.com/hashicorp/go-plugin", "k8s.io/client-go", "std"}, nil},
	} {
		components := sbom(t, c.binary)
		has := func(mod string) bool {
			return slices.ContainsFunc(components, func(m struct{ Name, Version, Purl string }) bool {
				return m.Name == mod && m.Version != ""
			})
		}
		for _, mod := range c.want {
			if !has(mod) {
				t.Errorf("%s: the SBOM lacks %s with its version", c.binary, mod)
			}
		}
		for _, mod := range c.absent {
			if has(mod) {
				t.Errorf("%s: the SBOM lists %s", c.binary, mod)
			}
		}
	}
}

// sbom reads binary's SBOM and checks its format and version.
func sbom(t *testing.T, binary string) []struct{ Name, Version, Purl string } {
	t.Helper()
	data, err := os.ReadFile(artifact(t, binary+"_"+testVersion+"_linux_amd64.cdx.json"))
	if err != nil {
		t.Fatal(err)
	}
	var bom struct {
		BOMFormat string `json:"bomFormat"`
		Metadata  struct {
			Component struct{ Name, Version string }
		}
		Components []struct{ Name, Version, Purl string }
	}
	if err := json.Unmarshal(data, &bom); err != nil {
		t.Fatal(err)
	}
	if bom.BOMFormat != "CycloneDX" || bom.Metadata.Component.Version != testVersion {
		t.Errorf("%s: format %q, version %q; want CycloneDX, %s", binary, bom.BOMFormat, bom.Metadata.Component.Version, testVersion)
	}
	return bom.Components
}
