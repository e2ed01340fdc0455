package main

import (
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/goreleaser/nfpm/v2"
	_ "github.com/goreleaser/nfpm/v2/deb" // registers the deb packager
	_ "github.com/goreleaser/nfpm/v2/rpm" // registers the rpm packager
)

// packageFormats are the packages made for every Linux platform.
var packageFormats = []string{"deb", "rpm"}

// packages writes a deb and an rpm for every platform, as
// packaging/nfpm.yaml describes them, with nfpm's conventional names
// (sia-agent_1.2.0-1_amd64.deb, sia-agent-1.2.0-1.x86_64.rpm).
func (r *release) packages(platforms []platform) error {
	for _, p := range platforms {
		for _, format := range packageFormats {
			if err := r.writePackage(p, format); err != nil {
				return fmt.Errorf("%s %s: %w", p, format, err)
			}
		}
	}
	return nil
}

func (r *release) writePackage(p platform, format string) error {
	vars := map[string]string{
		"ARCH":    p.arch,
		"VERSION": packageVersion(r.version),
		"BINARY":  r.binary(p, "sia-agent"),
	}
	config, err := nfpm.ParseFileWithEnvMapping(filepath.Join(r.root, "packaging/nfpm.yaml"), func(k string) string { return vars[k] })
	if err != nil {
		return err
	}
	info, err := config.Get(format)
	if err != nil {
		return err
	}
	r.resolve(info)
	info.MTime = r.epoch
	info = nfpm.WithDefaults(info)
	if err := nfpm.PrepareForPackager(info, format); err != nil {
		return err
	}
	pkg, err := nfpm.Get(format)
	if err != nil {
		return err
	}
	info.Target = filepath.Join(r.out, pkg.ConventionalFileName(info))
	return writeFile(info.Target, func(w io.Writer) error { return pkg.Package(info, w) })
}

// versionNumber is a release's number: major.minor, maybe more.
var versionNumber = regexp.MustCompile(`^[0-9]+\.[0-9]+(\.[0-9]+)*`)

// packageVersion turns `git describe` into a version deb and rpm order
// right: v1.2.0 is 1.2.0; 1.2.0-3-gabc1234 (3 commits later) is
// 1.2.0+3.gabc1234; a commit before any tag, abc1234, is
// 0.0.0~git.abc1234, older than any release.
func packageVersion(v string) string {
	v = strings.TrimPrefix(v, "v")
	n := versionNumber.FindString(v)
	if n == "" {
		return "0.0.0~git." + strings.ReplaceAll(v, "-", ".")
	}
	rest := strings.TrimPrefix(strings.TrimPrefix(v, n), "-")
	if rest == "" {
		return n
	}
	return n + "+" + strings.ReplaceAll(rest, "-", ".")
}

// resolve makes the relative paths of info the repository's.
func (r *release) resolve(info *nfpm.Info) {
	abs := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(r.root, p)
	}
	for _, c := range info.Contents {
		c.Source = abs(c.Source)
	}
	s := &info.Scripts
	s.PreInstall, s.PostInstall, s.PreRemove, s.PostRemove = abs(s.PreInstall), abs(s.PostInstall), abs(s.PreRemove), abs(s.PostRemove)
}
