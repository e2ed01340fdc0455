package pluginhost

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// captured is the agent's log as JSON entries.
type captured struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *captured) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *captured) entries(t *testing.T) []map[string]any {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(c.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var e map[string]any
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("agent log line %q: %v", line, err)
		}
		out = append(out, e)
	}
	return out
}

// newWriter returns a logWriter for provider "token" over an agent logger
// that writes JSON to the returned capture, and the lines its sink saw.
func newWriter() (*logWriter, *captured, *[]string) {
	c := &captured{}
	agent := hclog.New(&hclog.LoggerOptions{Name: "agent", Output: c, JSONFormat: true, Level: hclog.Trace})
	var sunk []string
	w := &logWriter{logger: agent.Named("token")}
	w.sink = func(line string) { sunk = append(sunk, line) }
	return w, c, &sunk
}

func write(t *testing.T, w *logWriter, s string) {
	t.Helper()
	n, err := w.Write([]byte(s))
	if err != nil || n != len(s) {
		t.Fatalf("Write = %d, %v", n, err)
	}
}

func TestLogWriterKeepsLevelFieldsAndModule(t *testing.T) {
	w, c, sunk := newWriter()
	write(t, w, `{"@level":"warn","@message":"refresh failed","@module":"cert","@timestamp":"2026-01-01T00:00:00.000Z","@caller":"x.go:1","attempt":3,"error":"zts: 503"}`+"\n")
	write(t, w, `{"@level":"debug","@message":"tick"}`+"\n")
	write(t, w, `{"@level":"trace","@message":"fine"}`+"\n")
	write(t, w, `{"@level":"error","@message":"bad","@module":"server.tls"}`+"\n")

	got := c.entries(t)
	if len(got) != 4 {
		t.Fatalf("got %d entries: %v", len(got), got)
	}
	e := got[0]
	if e["@level"] != "warn" || e["@message"] != "refresh failed" || e["@module"] != "agent.token.cert" ||
		e["attempt"] != float64(3) || e["error"] != "zts: 503" {
		t.Errorf("entry = %v", e)
	}
	if _, ok := e["@caller"]; ok && e["@caller"] == "x.go:1" {
		t.Errorf("the plugin's @caller was relayed as a field: %v", e)
	}
	if e["@timestamp"] == "2026-01-01T00:00:00.000Z" {
		t.Errorf("the plugin's @timestamp was relayed as a field: %v", e)
	}
	for i, want := range []string{"debug", "trace", "error"} {
		if got[i+1]["@level"] != want {
			t.Errorf("entry %d level %v, want %s", i+1, got[i+1]["@level"], want)
		}
	}
	if got[1]["@module"] != "agent.token" || got[3]["@module"] != "agent.token.server.tls" {
		t.Errorf("modules %v, %v", got[1]["@module"], got[3]["@module"])
	}
	if len(*sunk) != 4 || !strings.HasSuffix((*sunk)[0], " [WARN] refresh failed attempt=3 error=zts: 503") ||
		!strings.HasSuffix((*sunk)[3], " [ERROR] bad") {
		t.Errorf("sink saw %q", *sunk)
	}
}

func TestLogWriterUnknownOrMissingLevelIsInfo(t *testing.T) {
	w, c, _ := newWriter()
	write(t, w, `{"@message":"no level"}`+"\n"+`{"@level":"loud","@message":"odd level"}`+"\n")
	for _, e := range c.entries(t) {
		if e["@level"] != "info" {
			t.Errorf("entry %v, want info", e)
		}
	}
}

func TestLogWriterNonJSONIsAnError(t *testing.T) {
	w, c, sunk := newWriter()
	lines := []string{
		"panic: runtime error: invalid memory address or nil pointer dereference",
		"goroutine 1 [running]:",
		"{not json at all",
		`  {"@level":"info","@message":"indented"}`,
		"plain print",
	}
	write(t, w, strings.Join(lines, "\n")+"\n")
	got := c.entries(t)
	if len(got) != len(lines) {
		t.Fatalf("got %d entries, want %d: %v", len(got), len(lines), got)
	}
	for i, e := range got {
		if e["@level"] != "error" || e["@message"] != lines[i] || e["@module"] != "agent.token" {
			t.Errorf("entry %d = %v, want error %q", i, e, lines[i])
		}
	}
	if len(*sunk) != len(lines) || !strings.HasSuffix((*sunk)[0], " [ERROR] "+lines[0]) {
		t.Errorf("sink saw %q", *sunk)
	}
}

func TestLogWriterBuffersPartialLines(t *testing.T) {
	w, c, _ := newWriter()
	// go-plugin writes a line, then its newline, in separate writes; long
	// lines come in pieces.
	write(t, w, `{"@level":"info",`)
	write(t, w, `"@message":"hel`)
	if got := c.entries(t); len(got) != 0 {
		t.Fatalf("a partial line was logged: %v", got)
	}
	write(t, w, `lo"}`)
	write(t, w, "\n")
	write(t, w, "first\r\nsecond\n\n   \nthird-without-newline")
	got := c.entries(t)
	if len(got) != 3 || got[0]["@message"] != "hello" || got[1]["@message"] != "first" || got[2]["@message"] != "second" {
		t.Fatalf("entries %v", got)
	}
	w.Flush()
	got = c.entries(t)
	if len(got) != 4 || got[3]["@message"] != "third-without-newline" || got[3]["@level"] != "error" {
		t.Fatalf("after Flush: %v", got)
	}
	w.Flush() // nothing left
	if got := c.entries(t); len(got) != 4 {
		t.Errorf("a second Flush logged again: %v", got)
	}
}

func TestLogWriterConcurrentWrites(t *testing.T) {
	w, c, _ := newWriter()
	w.sink = nil
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				fmt.Fprintf(w, "{\"@level\":\"info\",\"@message\":\"m\",\"g\":%d}\n", i)
			}
		}()
	}
	wg.Wait()
	if got := c.entries(t); len(got) != 400 {
		t.Errorf("got %d entries, want 400", len(got))
	}
}

func TestLogWriterSyncMarkers(t *testing.T) {
	w, c, sunk := newWriter()
	w.waitSynced(0, time.Hour) // 0: nothing to wait for

	marker := func(seq int) string {
		return fmt.Sprintf("{\"@level\":\"trace\",\"@message\":%q,\"seq\":%d}\n", pluginpb.LogSyncMessage, seq)
	}
	write(t, w, marker(1))
	w.waitSynced(1, time.Hour) // already relayed: returns at once
	if got := c.entries(t); len(got) != 0 || len(*sunk) != 0 {
		t.Errorf("a marker was logged: %v %q", got, *sunk)
	}

	done := make(chan struct{})
	go func() {
		defer close(done)
		w.waitSynced(3, time.Hour)
	}()
	write(t, w, `{"@message":"before the marker"}`+"\n"+marker(2))
	select {
	case <-done:
		t.Fatal("waitSynced(3) returned at marker 2")
	default:
	}
	write(t, w, marker(3))
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("waitSynced(3) did not return after marker 3")
	}
	// An old marker does not move it back.
	write(t, w, marker(1))
	w.waitSynced(3, time.Hour)

	// A marker that never comes: waitSynced gives up after its timeout.
	start := time.Now()
	w.waitSynced(9, 20*time.Millisecond)
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Errorf("waitSynced without the marker returned after %v, before its timeout", d)
	}
}

func TestLogWriterCutsLongLines(t *testing.T) {
	w, c, sunk := newWriter()
	// A 3 MiB line in 64 KiB writes, as a pipe delivers it: the writer
	// must not hold more than MaxLogLine of it.
	long := `{"@level":"warn","@message":"` + strings.Repeat("x", 3<<20) + `"}`
	for b := []byte(long); len(b) > 0; {
		n := min(len(b), 64<<10)
		write(t, w, string(b[:n]))
		if len(w.buf) > MaxLogLine {
			t.Fatalf("writer buffers %d bytes of one line, more than %d", len(w.buf), MaxLogLine)
		}
		b = b[n:]
	}
	write(t, w, "\nplain "+strings.Repeat("y", MaxLogLine)+"\nnext\n")
	got := c.entries(t)
	if len(got) != 3 {
		t.Fatalf("got %d entries, want 3", len(got))
	}
	first, _ := got[0]["@message"].(string)
	wantCut := fmt.Sprintf("... [%d bytes cut]", len(long)-MaxLogLine)
	if got[0]["@level"] != "warn" || len(first) > MaxLogLine+100 || !strings.HasSuffix(first, wantCut) {
		t.Errorf("first entry: level %v, %d bytes, ends %q; want warn, cut, ending %q", got[0]["@level"], len(first), first[max(0, len(first)-40):], wantCut)
	}
	second, _ := got[1]["@message"].(string)
	if got[1]["@level"] != "error" || !strings.HasSuffix(second, "... [6 bytes cut]") {
		t.Errorf("second entry: level %v, ends %q", got[1]["@level"], second[max(0, len(second)-40):])
	}
	if got[2]["@message"] != "next" {
		t.Errorf("the line after the cut ones: %v", got[2])
	}
	for _, line := range *sunk {
		if len(line) > MaxLogLine+200 {
			t.Errorf("the sink saw a line of %d bytes", len(line))
		}
	}
}

// The stdout and stderr go-plugin relays carry prints: a line that is not
// hclog JSON is logged at the stream's level, a JSON line keeps its own,
// and a sync marker there is not honoured.
func TestLogWriterStdioStreams(t *testing.T) {
	for _, tc := range []struct {
		plain hclog.Level
		want  string
	}{{pluginpb.StdoutLevel, "info"}, {pluginpb.StderrLevel, "warn"}} {
		w, c, sunk := newWriter()
		w.plain, w.stdio = tc.plain, true
		write(t, w, "a print\r\n\n   \n"+`{"@level":"debug","@message":"json","n":1}`+"\n")
		write(t, w, fmt.Sprintf("{\"@level\":\"trace\",\"@message\":%q,\"seq\":%d}\n", pluginpb.LogSyncMessage, 7))
		write(t, w, "partial")
		w.Flush()
		got := c.entries(t)
		if len(got) != 3 || got[0]["@level"] != tc.want || got[0]["@message"] != "a print" ||
			got[1]["@level"] != "debug" || got[1]["n"] != float64(1) ||
			got[2]["@level"] != tc.want || got[2]["@message"] != "partial" {
			t.Errorf("%s stream: entries %v", tc.want, got)
		}
		if len(*sunk) != 3 || !strings.HasSuffix((*sunk)[0], " ["+strings.ToUpper(tc.want)+"] a print") {
			t.Errorf("%s stream: sink saw %q", tc.want, *sunk)
		}
		w.mu.Lock()
		synced := w.synced
		w.mu.Unlock()
		if synced != 0 {
			t.Errorf("%s stream: a marker on it counted (synced %d)", tc.want, synced)
		}
	}
}
