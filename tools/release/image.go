package main

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user: nobody, as distroless and Kubernetes manifests
// expect (runAsUser: 65534).
const imageUser = "65534:65534"

// caBundle is the CA certificates the image carries, for ZTS's server
// certificate when no ca_file is configured: Debian's ca-certificates
// bundle, where the Dockerfile's build stage has it too.
const caBundle = "/etc/ssl/certs/ca-certificates.crt"

// imageTree is the image's file system: the agent and the k8s-secret
// provider's plugin binary beside it, where the agent finds it, the production
// pipeline as a default, CA certificates, a passwd and group naming its
// user, and a /tmp for the agent's runtime directory. No shell, no
// package manager.
func (r *release) imageTree(p platform) tree {
	t := tree{}
	t.file("usr/bin/sia-agent", 0o755, r.binary(p, "sia-agent"))
	t.file("usr/bin/sia-plugin-k8s-secret", 0o755, r.binary(p, "sia-plugin-k8s-secret"))
	t.file("etc/sia-agent/pipeline.yaml", 0o644, filepath.Join(r.root, "configs/production.yaml"))
	t.file("etc/passwd", 0o644, filepath.Join(r.root, "packaging/image/passwd"))
	t.file("etc/group", 0o644, filepath.Join(r.root, "packaging/image/group"))
	t.file("etc/ssl/certs/ca-certificates.crt", 0o644, caBundle)
	t.dir("tmp", 0o777|fs.ModeSticky)
	return t
}

// imageConfig is the image's configuration: what runs, as whom.
func (r *release) imageConfig(p platform) *v1.ConfigFile {
	return &v1.ConfigFile{
		Architecture: p.arch,
		OS:           p.os,
		Created:      v1.Time{Time: r.epoch},
		Config: v1.Config{
			Entrypoint: []string{"/usr/bin/sia-agent"},
			Cmd:        []string{"run", "--config", "/etc/sia-agent/pipeline.yaml"},
			User:       imageUser,
			WorkingDir: "/",
			Env:        []string{"PATH=/usr/bin"},
			Labels: map[string]string{
				"org.opencontainers.image.title":    "sia-agent",
				"org.opencontainers.image.version":  r.version,
				"org.opencontainers.image.revision": r.commit,
				"org.opencontainers.image.licenses": "Apache-2.0",
				"org.opencontainers.image.source":   "https://github.com/sia-agent/sia-agent",
			},
		},
	}
}

// buildImage is the image for p: one layer, OCI media types.
func (r *release) buildImage(p platform) (v1.Image, error) {
	if _, err := os.Stat(caBundle); err != nil {
		return nil, fmt.Errorf("the image's CA certificates: %w (apt-get install ca-certificates)", err)
	}
	var layerTar bytes.Buffer
	if err := r.imageTree(p).writeTar(&layerTar, "", r.epoch); err != nil {
		return nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar.Bytes())), nil
	}, tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, err
	}
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	if img, err = mutate.ConfigFile(img, r.imageConfig(p)); err != nil {
		return nil, err
	}
	return mutate.Append(img, mutate.Addendum{
		Layer:     layer,
		History:   v1.History{Created: v1.Time{Time: r.epoch}, CreatedBy: "make image", Comment: "sia-agent " + r.version},
		MediaType: types.OCILayer,
	})
}

// imageArchive and dockerArchive name the image's files in dist/.
func (r *release) imageArchive() string { return fmt.Sprintf("sia-agent_%s_image.oci.tar", r.version) }

func (r *release) dockerArchive(p platform) string {
	return fmt.Sprintf("sia-agent_%s_image_%s.docker.tar", r.version, p)
}

// imageTag is the tag the archives give the image: sia-agent:<version>.
func (r *release) imageTag() (name.Tag, error) {
	tag := regexp.MustCompile(`[^A-Za-z0-9_.-]`).ReplaceAllString(r.version, "_")
	return name.NewTag("sia-agent:"+tag, name.WithDefaultRegistry(""))
}

// image writes the image of every (Linux) platform: one OCI archive (an
// OCI image layout, as a tar, with an index of every platform) for
// skopeo, crane or podman, and a `docker load` archive per platform.
func (r *release) image(platforms []platform) error {
	tag, err := r.imageTag()
	if err != nil {
		return err
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range platforms {
		img, err := r.buildImage(p)
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		if err := writeFile(filepath.Join(r.out, r.dockerArchive(p)), func(w io.Writer) error {
			return tarball.Write(tag, img, w)
		}); err != nil {
			return err
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{
			Platform:    &v1.Platform{OS: p.os, Architecture: p.arch},
			Annotations: map[string]string{"org.opencontainers.image.ref.name": tag.TagStr()},
		}})
	}
	return writeLayoutArchive(filepath.Join(r.out, r.imageArchive()), idx, r)
}

// writeLayoutArchive writes idx as an OCI image layout into a temporary
// directory, and that directory as a tar at file.
func writeLayoutArchive(file string, idx v1.ImageIndex, r *release) error {
	dir, err := os.MkdirTemp("", "sia-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if _, err := layout.Write(dir, idx); err != nil {
		return err
	}
	t, err := dirTree(dir)
	if err != nil {
		return err
	}
	return writeFile(file, func(w io.Writer) error { return t.writeTar(w, "", r.epoch) })
}
