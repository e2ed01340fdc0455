package pluginhost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk"
)

// logWriter re-logs a plugin's standard error under the provider's name:
// hclog JSON lines keep their level and fields, anything else (a panic, a
// stray print) is logged at error level so that it is not lost.
type logWriter struct {
	logger hclog.Logger
	sink   func(line string) // sees every line, formatted; may be nil
	mu     sync.Mutex
	buf    []byte

	synced     uint64        // the last log sync marker seen
	syncedNext chan struct{} // closed when synced changes
}

// waitSynced waits, at most timeout, until the marker numbered seq has
// been relayed.
func (w *logWriter) waitSynced(seq uint64, timeout time.Duration) {
	if seq == 0 {
		return
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		w.mu.Lock()
		if w.synced >= seq {
			w.mu.Unlock()
			return
		}
		if w.syncedNext == nil {
			w.syncedNext = make(chan struct{})
		}
		next := w.syncedNext
		w.mu.Unlock()
		select {
		case <-next:
		case <-timer.C:
			return
		}
	}
}

func (w *logWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		w.line(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
}

// Flush logs a final line that had no newline.
func (w *logWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(w.buf)
		w.buf = nil
	}
}

func (w *logWriter) line(b []byte) {
	b = bytes.TrimRight(b, "\r")
	if len(bytes.TrimSpace(b)) == 0 {
		return
	}
	var entry map[string]any
	if b[0] != '{' || json.Unmarshal(b, &entry) != nil {
		w.logger.Error(string(b))
		w.keep(hclog.Error, string(b), nil)
		return
	}
	if str(entry["@message"]) == sdk.LogSyncMessage {
		if seq, ok := entry["seq"].(float64); ok && uint64(seq) > w.synced {
			w.synced = uint64(seq)
			if w.syncedNext != nil {
				close(w.syncedNext)
				w.syncedNext = nil
			}
		}
		return
	}
	level := hclog.LevelFromString(str(entry["@level"]))
	if level == hclog.NoLevel {
		level = hclog.Info
	}
	msg := str(entry["@message"])
	logger := w.logger
	if module := str(entry["@module"]); module != "" {
		logger = logger.Named(module)
	}
	args := make([]any, 0, 2*len(entry))
	for _, k := range sortedKeys(entry) {
		if strings.HasPrefix(k, "@") {
			continue
		}
		args = append(args, k, entry[k])
	}
	logger.Log(level, msg, args...)
	w.keep(level, msg, args)
}

// keep hands the line to the sink in the agent's text format.
func (w *logWriter) keep(level hclog.Level, msg string, args []any) {
	if w.sink == nil {
		return
	}
	var b strings.Builder
	b.WriteString(time.Now().UTC().Format(time.RFC3339))
	b.WriteString(" [")
	b.WriteString(strings.ToUpper(level.String()))
	b.WriteString("] ")
	b.WriteString(msg)
	for i := 0; i+1 < len(args); i += 2 {
		fmt.Fprintf(&b, " %v=%v", args[i], args[i+1])
	}
	w.sink(b.String())
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
