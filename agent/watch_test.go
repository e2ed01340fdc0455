package agent

import (
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"
)

// The watch sees an edit in place and a ConfigMap's update, which swaps
// the ..data symlink of the directory the file is a symlink through.
func TestWatchFileSeesChanges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		write := func(name, text string) {
			t.Helper()
			if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(name)), 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		// A ConfigMap volume: pipeline.yaml -> ..data/pipeline.yaml, ..data -> ..v1.
		write("..v1/pipeline.yaml", "version: 1\n")
		must(t, os.Symlink("..v1", filepath.Join(dir, "..data")))
		must(t, os.Symlink("..data/pipeline.yaml", filepath.Join(dir, "pipeline.yaml")))
		changed := make(chan struct{}, 1)
		stop := watchFile(filepath.Join(dir, "pipeline.yaml"), changed)
		defer stop()

		expect := func(what string, want bool) {
			t.Helper()
			time.Sleep(2 * watchInterval)
			synctest.Wait()
			select {
			case <-changed:
				if !want {
					t.Errorf("%s: a change was seen", what)
				}
			default:
				if want {
					t.Errorf("%s: no change was seen", what)
				}
			}
		}
		expect("nothing done", false)

		// The kubelet's update: a new directory, then an atomic swap of ..data.
		write("..v2/pipeline.yaml", "version: 1\n") // the same size
		must(t, os.Symlink("..v2", filepath.Join(dir, "..data_tmp")))
		must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
		expect("the ..data swap", true)
		expect("nothing more", false)

		write("..v2/pipeline.yaml", "version: 1\nagent: {}\n")
		expect("an edit in place", true)

		must(t, os.Remove(filepath.Join(dir, "..data")))
		expect("a file gone for a moment", false)
	})
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
