package pluginhost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// MaxLogLine bounds one line of a plugin's output as the agent relays it
// to its log, the status report and the status file: a plugin printing a
// line of hundreds of megabytes must not take the agent's memory with it.
// The rest of a longer line is dropped, and the line says how much.
const MaxLogLine = 16 << 10

// logWriter re-logs one output stream of a plugin under the provider's
// name: hclog JSON lines keep their level and fields, anything else is
// logged at the stream's plain level. On the real standard error that is
// error, so that a panic or a print before Serve is not lost; on the
// stdout and stderr go-plugin relays once the plugin serves, it is
// pluginpb.StdoutLevel and pluginpb.StderrLevel.
type logWriter struct {
	logger hclog.Logger
	sink   func(line string) // sees every line, formatted; may be nil
	plain  hclog.Level       // the level of a line that is not hclog JSON
	// stdio marks a stream go-plugin relays: log sync markers belong to
	// the real standard error alone, so one seen here is dropped.
	stdio bool
	mu    sync.Mutex
	buf   []byte // the current line, at most MaxLogLine bytes
	cut   int    // bytes of the current line dropped past MaxLogLine

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
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i]
		}
		room := MaxLogLine - len(w.buf)
		if len(chunk) > room {
			w.cut += len(chunk) - room
			chunk = chunk[:room]
		}
		w.buf = append(w.buf, chunk...)
		if i < 0 {
			break
		}
		w.line(w.buf, w.cut)
		w.buf, w.cut = w.buf[:0], 0
		p = p[i+1:]
	}
	return n, nil
}

// Flush logs a final line that had no newline.
func (w *logWriter) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.line(w.buf, w.cut)
		w.buf, w.cut = nil, 0
	}
}

// line relays one line of the plugin's output; cut bytes of it were
// dropped.
func (w *logWriter) line(b []byte, cut int) {
	b = bytes.TrimRight(b, "\r")
	if len(bytes.TrimSpace(b)) == 0 {
		return
	}
	if cut > 0 {
		// Cut JSON does not parse: relay the text as it came, at the
		// level the line starts with when hclog wrote it.
		msg := fmt.Sprintf("%s ... [%d bytes cut]", b, cut)
		level := truncatedLevel(b, w.plainLevel())
		w.logger.Log(level, msg)
		w.keep(level, msg, nil)
		return
	}
	var entry map[string]any
	if b[0] != '{' || json.Unmarshal(b, &entry) != nil {
		w.logger.Log(w.plainLevel(), string(b))
		w.keep(w.plainLevel(), string(b), nil)
		return
	}
	if seq, ok := pluginpb.LogSyncSeq(entry); ok {
		if !w.stdio && seq > w.synced {
			w.synced = seq
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

// plainLevel is the level of a line that is not hclog JSON: error unless
// the stream says otherwise.
func (w *logWriter) plainLevel() hclog.Level {
	if w.plain == hclog.NoLevel {
		return hclog.Error
	}
	return w.plain
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

// truncatedLevel is the level of a cut hclog JSON line, which starts with
// its "@level" field; plain for anything else.
func truncatedLevel(b []byte, plain hclog.Level) hclog.Level {
	rest, ok := bytes.CutPrefix(b, []byte(`{"@level":"`))
	if !ok {
		return plain
	}
	name, _, ok := bytes.Cut(rest, []byte(`"`))
	if level := hclog.LevelFromString(string(name)); ok && level != hclog.NoLevel {
		return level
	}
	return plain
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
