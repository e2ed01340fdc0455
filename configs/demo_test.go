package configs

import (
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return strconv.Itoa(l.Addr().(*net.TCPAddr).Port)
}

// `make demo`'s script says the agent is ready only when it is: when the
// agent fails to start (its token port is taken), the script exits with
// the agent's status and prints no "ready" banner, then or later.
func TestDemoBannerNotPrintedAfterAFailedStart(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"scripts/demo.sh", "configs/demo.yaml", "configs/zts-dev/demo.yaml"} {
		data, err := os.ReadFile(filepath.Join("..", f))
		if err == nil {
			err = os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, f), data, 0o755)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(filepath.Join(root, "bin"), filepath.Join(dir, "bin")); err != nil {
		t.Fatal(err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	cmd := exec.Command("bash", filepath.Join(dir, "scripts/demo.sh"))
	cmd.Env = append(os.Environ(), "ZTS_PORT="+freePort(t), "METRICS_PORT="+freePort(t), "HEALTH_PORT="+freePort(t),
		"TOKEN_PORT="+strconv.Itoa(taken.Addr().(*net.TCPAddr).Port))
	// CombinedOutput returns once every process holding the output has
	// exited: a banner printed late, by a leftover background loop, is
	// in it too.
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("demo.sh exited %d (%v), want the agent's 1\n%s", code, err, out)
	}
	if !strings.Contains(string(out), "address already in use") {
		t.Errorf("the agent did not fail on the taken port:\n%s", out)
	}
	if strings.Contains(string(out), "is ready") {
		t.Errorf("the ready banner was printed after the agent failed:\n%s", out)
	}
}
