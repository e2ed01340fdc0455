package sdktest_test

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

// A wait returns the line as soon as it arrives, and fails at once once
// the output ended without it.
func TestLogWait(t *testing.T) {
	var echoed []string
	log := sdktest.NewLog(func(line string) { echoed = append(echoed, line) })
	r, w := io.Pipe()
	done := make(chan struct{})
	go func() {
		defer close(done)
		if _, err := log.ReadFrom(r); err != nil {
			t.Error(err)
		}
	}()

	waited := make(chan int, 1)
	go func() {
		i, err := log.Wait("second", time.Hour)
		if err != nil {
			t.Error(err)
		}
		waited <- i
	}()
	if _, err := io.WriteString(w, "first line\nthe second line\n"); err != nil {
		t.Fatal(err)
	}
	if i := <-waited; i != 1 {
		t.Errorf("Wait returned line %d, want 1", i)
	}
	if i, err := log.WaitFrom(1, "line", 0); i != 1 || err != nil {
		t.Errorf("WaitFrom(1) = %d, %v; want 1, nil", i, err)
	}
	if _, err := log.WaitFrom(2, "line", 0); err == nil {
		t.Error("WaitFrom past every line found one")
	}

	w.Close()
	<-done
	if _, err := log.Wait("third", time.Hour); err == nil || !strings.Contains(err.Error(), "output ended") {
		t.Errorf("Wait after the end: %v, want an error saying the output ended", err)
	}
	if got := log.String(); got != "first line\nthe second line" {
		t.Errorf("String() = %q", got)
	}
	if log.Index("second") != 1 || log.Index("third") != -1 {
		t.Errorf("Index: %d, %d", log.Index("second"), log.Index("third"))
	}
	if strings.Join(echoed, "|") != "first line|the second line" {
		t.Errorf("echoed %q", echoed)
	}
}
