package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// archiveDocs are the repository's files every archive carries.
var archiveDocs = []string{
	"LICENSE", "README.md", "SECURITY.md",
	"configs/production.yaml", "configs/systemd/sia-agent.service", "configs/systemd/sia-agent.env",
}

// archives writes sia-agent_<version>_<os>_<arch>.tar.gz for every
// platform: the binaries built for it (sia-agent, and zts-dev or
// sia-plugin-k8s-secret where the Makefile built one), the license and the production configuration,
// below a directory of the archive's name.
func (r *release) archives(platforms []platform) error {
	for _, p := range platforms {
		name := fmt.Sprintf("sia-agent_%s_%s", r.version, p)
		t := tree{}
		for _, cmd := range []string{"sia-agent", "sia-plugin-k8s-secret", "zts-dev"} {
			bin := r.binary(p, cmd)
			if _, err := os.Stat(bin); err == nil {
				t.file(cmd, 0o755, bin)
			} else if cmd == "sia-agent" {
				return fmt.Errorf("%s: %w (build it first: make dist)", p, err)
			}
		}
		for _, doc := range archiveDocs {
			t.file(doc, 0o644, filepath.Join(r.root, doc))
		}
		if err := t.writeTarGz(filepath.Join(r.out, name+".tar.gz"), name+"/", r.epoch); err != nil {
			return err
		}
	}
	return nil
}
