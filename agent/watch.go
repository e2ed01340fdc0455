package agent

import (
	"context"
	"os"
	"sync"
	"time"
)

// watchInterval is how often a watched pipeline file is looked at.
const watchInterval = time.Second

// watchFile sends on changed, without blocking, whenever the pipeline
// file changes, until the returned function is called.
//
// It polls the file's stat, through symlinks, rather than asking the
// kernel (inotify): a Kubernetes ConfigMap volume updates by swapping a
// symlink (..data) in the directory, which a watch of the file itself
// never sees, and a poll needs no watch descriptors, no new dependency and
// works on every file system. The file's identity (device and inode),
// size and modification time tell a change: the swap gives a new inode,
// an edit in place a new size or time. A file that cannot be read for a
// moment is no change; the reload itself reports a broken one.
func watchFile(path string, changed chan<- struct{}) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(watchInterval)
		defer tick.Stop()
		last, _ := os.Stat(path)
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			fi, err := os.Stat(path)
			if err != nil || !differ(last, fi) {
				continue
			}
			last = fi
			select {
			case changed <- struct{}{}:
			default: // a reload is asked for already
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// differ reports whether b is another file, or the same one changed,
// than a (nil when it could not be read).
func differ(a, b os.FileInfo) bool {
	return a == nil || !os.SameFile(a, b) || a.Size() != b.Size() || !a.ModTime().Equal(b.ModTime())
}
