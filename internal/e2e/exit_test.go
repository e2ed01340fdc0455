package e2e

import (
	"os/exec"
	"testing"
	"time"
)

// WaitExit sees a process that runs, one that has exited (a zombie, not
// yet reaped) and one that is gone.
func TestWaitExit(t *testing.T) {
	cmd := exec.Command("cat") // runs until its input closes
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	if err := WaitExit(cmd.Process.Pid, 10*time.Millisecond); err == nil {
		t.Fatal("WaitExit returned nil while the process runs")
	}
	if err := in.Close(); err != nil {
		t.Fatal(err)
	}
	if err := WaitExit(cmd.Process.Pid, time.Minute); err != nil {
		t.Fatalf("exited, not reaped: %v", err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	if err := WaitExit(cmd.Process.Pid, time.Minute); err != nil {
		t.Fatalf("reaped: %v", err)
	}
}
