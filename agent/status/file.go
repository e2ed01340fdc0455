package status

import (
	"context"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk"
)

// WriteFile rewrites the status file at path, atomically, after every
// change of the store until ctx is done, and once more then. Changes that
// come while a write is under way are folded into the next write.
func (s *Store) WriteFile(ctx context.Context, path string, log hclog.Logger) {
	write := func() {
		b, err := s.JSON()
		if err == nil {
			err = sdk.WriteFileAtomic(path, b, 0o644)
		}
		if err != nil {
			log.Warn("could not write the status file", "path", path, "error", err)
		}
	}
	write()
	for {
		select {
		case <-ctx.Done():
			write()
			return
		case <-s.changed:
			write()
		}
	}
}
