package sdk

import (
	"io"
	"sync"

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// logSync writes numbered log sync markers (pluginpb.LogSyncLine).
type logSync struct {
	mu  sync.Mutex
	w   io.Writer
	seq uint64
}

// mark writes the next marker and returns its number; 0 if it could not.
func (l *logSync) mark() uint64 {
	if l == nil || l.w == nil {
		return 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.seq++
	// One write of one short line: atomic on a pipe, so it never splits
	// another writer's line.
	if _, err := io.WriteString(l.w, pluginpb.LogSyncLine(l.seq)); err != nil {
		return 0
	}
	return l.seq
}
