//go:build siafaults

package fault

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestFromEnv(t *testing.T) {
	t.Setenv(Env, "cert:start=fail")
	rules, err := FromEnv()
	if err != nil || rules["cert:start"].Kind != Fail {
		t.Errorf("FromEnv = %v, %v", rules, err)
	}
	t.Setenv(Env, "")
	if rules, err := FromEnv(); err != nil || len(rules) != 0 {
		t.Errorf("FromEnv (unset) = %v, %v", rules, err)
	}
}

// A "wait" fault point holds until a writer opens its FIFO.
func TestHitWait(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "go-on")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	p := NewPoints("token", Rules{"token:start": {Kind: Wait, Arg: fifo}}, nil)
	done := make(chan error, 1)
	go func() { done <- p.Hit(context.Background(), "start") }()
	select {
	case err := <-done:
		t.Fatalf("Hit returned %v before the FIFO was opened", err)
	default:
	}
	w, err := os.OpenFile(fifo, os.O_WRONLY, 0) // blocks until Hit has it open
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if err := recv(t, done); err != nil {
		t.Errorf("Hit = %v", err)
	}

	missing := filepath.Join(t.TempDir(), "none")
	p = NewPoints("token", Rules{"token:start": {Kind: Wait, Arg: missing}}, nil)
	if err := p.Hit(context.Background(), "start"); err == nil || !strings.HasPrefix(err.Error(), `fault "start": waiting on `+missing+": ") {
		t.Errorf("Hit on a missing FIFO = %v", err)
	}
}

// crash runs in a child process: the test binary again, told by the
// environment which fault to hit.
func TestHitCrash(t *testing.T) {
	if spec := os.Getenv("FAULT_TEST_CRASH"); spec != "" {
		rules, err := Parse(spec)
		if err != nil {
			os.Exit(100)
		}
		_ = NewPoints("p", rules, nil).Hit(context.Background(), "x")
		os.Exit(101) // not reached
	}
	for spec, want := range map[string]int{"p:x=crash": 3, "p:x=crash:7": 7} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHitCrash$")
		cmd.Env = append(os.Environ(), "FAULT_TEST_CRASH="+spec)
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != want {
			t.Errorf("%s: child ended with %v, want exit code %d", spec, err, want)
		}
	}
}

// Raiser sends the signal to the process pid names and waits until a
// Handled comes after it; one that came before does not count.
func TestSignalsRaiser(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Skipf("no sleep command: %v", err)
	}
	exited := make(chan error, 1)
	reaped := make(chan struct{})
	go func() {
		defer close(reaped)
		exited <- child.Wait()
	}()
	defer func() {
		_ = child.Process.Kill()
		<-reaped
	}()

	var s Signals
	s.Handled() // an old signal: must not satisfy the wait below
	handled, err := s.Raiser(func() int { return child.Process.Pid })(syscall.SIGTERM)
	if err != nil {
		t.Fatal(err)
	}
	err = recv(t, exited)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGTERM {
		t.Errorf("child ended with %v, want killed by SIGTERM", err)
	}

	done := make(chan error, 1)
	go func() { done <- handled(context.Background()) }()
	select {
	case err := <-done:
		t.Fatalf("handled returned %v before the agent handled the signal", err)
	default:
	}
	s.Handled()
	if err := recv(t, done); err != nil {
		t.Errorf("handled = %v", err)
	}

	// Without a Handled, the wait ends with its context.
	handled, err = s.Raiser(func() int { return os.Getpid() })(0) // signal 0: only checks the process exists
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := handled(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("handled with a cancelled context = %v", err)
	}
}

func TestSignalsRaiserNoProcess(t *testing.T) {
	child := exec.Command("true")
	if err := child.Run(); err != nil {
		t.Skipf("no true command: %v", err)
	}
	var s Signals
	// The reaped child's pid names no process (unless reused at once).
	if _, err := s.Raiser(func() int { return child.Process.Pid })(syscall.SIGTERM); !errors.Is(err, syscall.ESRCH) {
		t.Logf("Raiser to a gone pid = %v (pid reused?)", err)
	}
}
