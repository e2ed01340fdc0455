package sdktest

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Log collects a process's output line by line and lets a test wait for a
// line to appear, with a deadline, instead of sleeping.
type Log struct {
	mu      sync.Mutex
	lines   []string
	changed chan struct{} // closed and replaced on every change
	ended   bool
	echo    func(string)
}

// NewLog returns an empty log; echo, if not nil, sees every line as it
// arrives.
func NewLog(echo func(line string)) *Log {
	return &Log{changed: make(chan struct{}), echo: echo}
}

// ReadFrom adds the lines r holds until it ends, and then ends the log: a
// Wait for a line that has not come fails at once. It implements
// io.ReaderFrom; lines longer than 1 MiB are an error.
func (l *Log) ReadFrom(r io.Reader) (int64, error) {
	var n int64
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		n += int64(len(sc.Bytes())) + 1
		l.update(func() { l.lines = append(l.lines, sc.Text()) })
		if l.echo != nil {
			l.echo(sc.Text())
		}
	}
	l.update(func() { l.ended = true })
	return n, sc.Err()
}

// update changes the log under its lock and wakes every waiter.
func (l *Log) update(change func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	change()
	close(l.changed)
	l.changed = make(chan struct{})
}

// Lines returns the lines so far.
func (l *Log) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

// String returns the whole log so far, one line after the other.
func (l *Log) String() string { return strings.Join(l.Lines(), "\n") }

// Index returns the index of the first line containing substr, or -1.
func (l *Log) Index(substr string) int {
	for i, line := range l.Lines() {
		if strings.Contains(line, substr) {
			return i
		}
	}
	return -1
}

// Wait waits until a line containing substr appears and returns its
// index. It fails when timeout passes or the output ends first; a timeout
// of 0 looks at the lines so far alone.
func (l *Log) Wait(substr string, timeout time.Duration) (int, error) {
	return l.WaitFrom(0, substr, timeout)
}

// WaitFrom is Wait looking only at the lines from index from on: what
// came after a line the test already waited for.
func (l *Log) WaitFrom(from int, substr string, timeout time.Duration) (int, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		for i := from; i < len(l.lines); i++ {
			if strings.Contains(l.lines[i], substr) {
				l.mu.Unlock()
				return i, nil
			}
		}
		from = max(from, len(l.lines))
		ended, changed := l.ended, l.changed
		l.mu.Unlock()
		if ended {
			return -1, fmt.Errorf("output ended without a line containing %q", substr)
		}
		select {
		case <-changed:
		case <-deadline.C:
			return -1, fmt.Errorf("no line containing %q within %v", substr, timeout)
		}
	}
}
