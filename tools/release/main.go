// Command sia-release assembles sia-agent's release artifacts from binaries
// the Makefile built: archives, the container image, deb and rpm packages,
// and SHA256SUMS. `make dist` runs it; docs/releasing.md says what each
// artifact holds.
//
// Every artifact is reproducible: file times are the commit's time
// (--epoch, SOURCE_DATE_EPOCH), owners are root, entries are sorted, so
// the same binaries give the same bytes.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// release is what every command works from.
type release struct {
	version string    // as `git describe` prints it
	commit  string    // the full commit hash
	epoch   time.Time // every file's time
	bin     string    // bin/release: <os>_<arch>/<command>
	out     string    // where the artifacts go
	root    string    // the repository
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: sia-release archives|image|packages|sums [flags] [os/arch...]")
		os.Exit(64)
	}
	if err := run(os.Args[1], os.Args[2:]); err != nil {
		fmt.Fprintf(os.Stderr, "sia-release %s: %v\n", os.Args[1], err)
		os.Exit(1)
	}
}

func run(cmd string, args []string) error {
	fs := flag.NewFlagSet("sia-release "+cmd, flag.ContinueOnError)
	var r release
	var epoch int64
	fs.StringVar(&r.version, "version", "dev", "the release's version")
	fs.StringVar(&r.commit, "commit", "unknown", "the release's commit")
	fs.Int64Var(&epoch, "epoch", 0, "the time of every file, in seconds since 1970 (SOURCE_DATE_EPOCH)")
	fs.StringVar(&r.bin, "bin", "bin/release", "`dir`ectory of the binaries, <os>_<arch>/<command>")
	fs.StringVar(&r.out, "out", "dist", "`dir`ectory the artifacts are written to")
	fs.StringVar(&r.root, "root", ".", "the repository's `dir`ectory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	r.epoch = time.Unix(epoch, 0).UTC()
	platforms, err := parsePlatforms(fs.Args())
	if err != nil {
		return err
	}
	if err := os.MkdirAll(r.out, 0o755); err != nil {
		return err
	}
	switch cmd {
	case "archives":
		return r.archives(platforms)
	case "image":
		return r.image(platforms)
	case "packages":
		return r.packages(platforms)
	case "sums":
		return writeSums(r.out)
	}
	return fmt.Errorf("unknown command %q", cmd)
}

// platform is an os/arch pair, as GOOS and GOARCH name them.
type platform struct{ os, arch string }

func (p platform) String() string { return p.os + "_" + p.arch }

func parsePlatforms(args []string) ([]platform, error) {
	var ps []platform
	for _, a := range args {
		goos, goarch, ok := strings.Cut(a, "/")
		if !ok || goos == "" || goarch == "" {
			return nil, fmt.Errorf("platform %q: want os/arch, e.g. linux/amd64", a)
		}
		ps = append(ps, platform{goos, goarch})
	}
	return ps, nil
}

// binary is the path of command built for p.
func (r *release) binary(p platform, command string) string {
	return r.bin + "/" + p.String() + "/" + command
}
