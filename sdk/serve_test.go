package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// envServe makes the test binary serve printer as a plugin, for the tests
// that need a real plugin process.
const envServe = "SIA_SDK_TEST_SERVE"

func TestMain(m *testing.M) {
	if os.Getenv(envServe) == "printer" {
		Serve(printer{})
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// printer writes, in Init, with every means a provider's code has besides
// its logger.
type printer struct{}

func (printer) Validate(context.Context, Config) error { return nil }

func (printer) Init(context.Context, *Runtime) error {
	log.Print("from the log package")
	log.Printf("[DEBUG] a %s line", "debug")
	fmt.Println("printed to stdout")
	fmt.Fprintln(os.Stderr, "printed to stderr")
	return nil
}

func (printer) Start(context.Context) error    { return nil }
func (printer) Shutdown(context.Context) error { return nil }

// lines is an io.Writer that keeps whole lines and lets a test wait for
// one.
type lines struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	changed chan struct{}
}

func newLines() *lines { return &lines{changed: make(chan struct{})} }

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.lines = append(l.lines, string(l.partial[:i]))
		l.partial = l.partial[i+1:]
	}
	close(l.changed)
	l.changed = make(chan struct{})
	return len(p), nil
}

// wait returns the first line for which match holds.
func (l *lines) wait(t *testing.T, what string, match func(string) bool) string {
	t.Helper()
	timer := time.NewTimer(deadline)
	defer timer.Stop()
	for {
		l.mu.Lock()
		got, changed := append([]string(nil), l.lines...), l.changed
		l.mu.Unlock()
		for _, line := range got {
			if match(line) {
				return line
			}
		}
		select {
		case <-changed:
		case <-timer.C:
			t.Fatalf("no %s within %v; lines: %q", what, deadline, got)
			return ""
		}
	}
}

// hostPlugin dispenses the provider client, as the agent does.
type hostPlugin struct{ plugin.NetRPCUnsupportedPlugin }

func (hostPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("a host serves no provider")
}

func (hostPlugin) GRPCClient(_ context.Context, _ *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return pluginpb.NewProviderClient(conn), nil
}

// What a provider writes other than through its logger reaches the agent
// as the protocol says (pluginpb, Output): the standard library's log
// package as hclog JSON lines on the real standard error, at warn level
// unless the line names its own; fmt's prints after Serve on go-plugin's
// stdio stream, stdout apart from stderr.
func TestServeRoutesWhatAProviderPrints(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the test binary as a plugin")
	}
	stderr, syncOut, syncErr := newLines(), newLines(), newLines()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), envServe+"=printer", pluginpb.EnvLogLevel+"=trace", "GORACE=atexit_sleep_ms=0")
	client := plugin.NewClient(&plugin.ClientConfig{
		HandshakeConfig:  pluginpb.Handshake(),
		VersionedPlugins: map[int]plugin.PluginSet{pluginpb.ProtocolVersion: {pluginpb.PluginName: hostPlugin{}}},
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		Logger:           hclog.NewNullLogger(),
		Stderr:           stderr,
		SyncStdout:       syncOut,
		SyncStderr:       syncErr,
	})
	defer client.Kill()
	rpc, err := client.Client()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := rpc.Dispense(pluginpb.PluginName)
	if err != nil {
		t.Fatal(err)
	}
	provider := raw.(pluginpb.ProviderClient)
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	if _, err := provider.Validate(ctx, &pluginpb.ValidateRequest{Name: "printer", Mode: pluginpb.Mode_MODE_REFRESH}); err != nil {
		t.Fatal(err)
	}
	if resp, err := provider.Init(ctx, &pluginpb.InitRequest{}); err != nil || resp.GetError() != "" {
		t.Fatalf("Init: %v %q", err, resp.GetError())
	}

	for msg, level := range map[string]string{"from the log package": "warn", "a debug line": "debug"} {
		line := stderr.wait(t, "log line "+msg, func(s string) bool { return strings.Contains(s, msg) })
		var entry map[string]any
		if err := json.Unmarshal([]byte(line), &entry); err != nil {
			t.Errorf("the log package's line is not an hclog JSON line: %q", line)
			continue
		}
		if entry["@message"] != msg || entry["@level"] != level {
			t.Errorf("the log package's line %q: want @message %q at @level %q", line, msg, level)
		}
	}
	syncOut.wait(t, "stdout line", func(s string) bool { return s == "printed to stdout" })
	syncErr.wait(t, "stderr line", func(s string) bool { return s == "printed to stderr" })
}

func TestStdlogLevel(t *testing.T) {
	for _, c := range []struct {
		in    string
		level hclog.Level
		msg   string
	}{
		{"http: TLS handshake error from 127.0.0.1:5: EOF", pluginpb.StdlibLogLevel, "http: TLS handshake error from 127.0.0.1:5: EOF"},
		{"[TRACE] t", hclog.Trace, "t"},
		{"[DEBUG]  d ", hclog.Debug, "d"},
		{"[INFO] i", hclog.Info, "i"},
		{"[WARN] w", hclog.Warn, "w"},
		{"[ERROR] e", hclog.Error, "e"},
		{"[ERR] e", hclog.Error, "e"},
		{"not [DEBUG] at the start", pluginpb.StdlibLogLevel, "not [DEBUG] at the start"},
	} {
		if level, msg := stdlogLevel(c.in); level != c.level || msg != c.msg {
			t.Errorf("stdlogLevel(%q) = %v, %q; want %v, %q", c.in, level, msg, c.level, c.msg)
		}
	}
}
