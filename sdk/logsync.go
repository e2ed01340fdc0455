package sdk

import (
	"fmt"
	"io"
	"sync"
)

// LogSyncMessage is the message of the marker lines a plugin writes to its
// standard error so that the agent can keep the plugin's log lines in order
// with its own (see pluginpb.StartResponse.log_seq).
const LogSyncMessage = "sia-log-sync"

// logSync writes numbered marker lines.
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
	if _, err := fmt.Fprintf(l.w, "{\"@level\":\"trace\",\"@message\":%q,\"seq\":%d}\n", LogSyncMessage, l.seq); err != nil {
		return 0
	}
	return l.seq
}
