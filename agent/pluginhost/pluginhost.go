// Package pluginhost launches provider plugins and speaks the plugin
// protocol to them: one Process per provider.
package pluginhost

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/hashicorp/go-plugin/runner"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"gopkg.in/yaml.v3"

	"github.com/sia-agent/sia-agent/agent/lifecycle"
	"github.com/sia-agent/sia-agent/internal/truncate"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// ChecksumError reports a plugin binary whose digest is not the pinned one.
type ChecksumError struct {
	Path      string
	Want, Got string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("plugin %s has sha256 %s, but the pipeline pins %s: refusing to launch it", e.Path, e.Got, e.Want)
}

// Spec says what to launch.
type Spec struct {
	Name   string   // the provider's name
	Path   string   // the plugin binary
	Args   []string // its arguments: which provider, for the agent's own binary
	Env    []string // added to its environment, after Options.Env
	SHA256 string   // pinned digest, lower-case hex; "" when not pinned
}

// Options are shared by every launch.
type Options struct {
	// Logger is the agent's logger; plugin logs appear under Name.
	Logger hclog.Logger
	// Env is added to the plugin's environment (the agent's is inherited).
	Env []string
	// StartTimeout bounds the launch and handshake; default 30s.
	StartTimeout time.Duration
	// LogSink, if set, sees every log line of the plugin, by provider name.
	LogSink func(name, line string)
	// SocketDir is where the plugin's and the agent's Unix sockets for
	// this plugin go (in a directory of their own below it); "" means the
	// system's temporary directory.
	SocketDir string
}

// logSyncTimeout bounds the wait for a plugin's log lines to be relayed
// after a lifecycle call: order in the log is worth a little, not a stall.
const logSyncTimeout = time.Second

// killGrace is how long Kill lets a plugin that was asked to exit take
// before its process group is killed.
const killGrace = 500 * time.Millisecond

// connBuffer is the read and write buffer of the agent's gRPC connections
// to a plugin: they carry small messages, and gRPC's default of 32 KiB
// each way, times two connections per plugin, is most of what the agent
// holds per plugin.
const connBuffer = 4 << 10

// maxRemoteError bounds an error message a plugin returns, as the agent
// logs and records it.
const maxRemoteError = 4 << 10

// Process is a provider's running plugin process, and the agent's
// connection to it.
type Process struct {
	Name   string
	client *plugin.Client
	rpc    pluginpb.ProviderClient
	health healthpb.HealthClient
	broker *plugin.GRPCBroker
	proc   *procRunner
	logs   *logWriter // the real standard error: log lines and sync markers
	stdout *logWriter // what the plugin prints once it serves
	stderr *logWriter
}

// Launch starts the plugin and completes the handshake. When ctx is done
// before the handshake, the plugin process is killed and Launch returns
// ctx's cause.
func Launch(ctx context.Context, spec Spec, opts Options) (*Process, error) {
	if spec.SHA256 != "" {
		if err := verify(spec.Path, spec.SHA256); err != nil {
			return nil, err
		}
	}
	channel, err := pluginpb.NewChannel()
	if err != nil {
		return nil, fmt.Errorf("launching plugin %s: %w", spec.Path, err)
	}
	p := newProcess(spec.Name, opts)
	launching := make(chan *procRunner, 1)
	p.client = plugin.NewClient(clientConfig(p, spec, opts, channel, launching))
	rpcClient, err := handshake(ctx, p.client, launching)
	if err != nil {
		p.client.Kill()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("launching plugin %s: %w", spec.Path, context.Cause(ctx))
		}
		return nil, fmt.Errorf("launching plugin %s: %w", spec.Path, versionHint(err))
	}
	raw, err := rpcClient.Dispense(pluginpb.PluginName)
	if err != nil {
		p.client.Kill()
		return nil, fmt.Errorf("plugin %s: %w", spec.Path, err)
	}
	p.rpc = raw.(pluginpb.ProviderClient)
	return p, nil
}

// clientConfig is how go-plugin is to launch and speak to p's plugin;
// the process runner it makes goes to launching.
func clientConfig(p *Process, spec Spec, opts Options, channel *pluginpb.Channel, launching chan<- *procRunner) *plugin.ClientConfig {
	timeout := opts.StartTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var sockets *plugin.UnixSocketConfig
	if opts.SocketDir != "" {
		sockets = &plugin.UnixSocketConfig{TempDir: opts.SocketDir}
	}
	return &plugin.ClientConfig{
		HandshakeConfig:  pluginpb.Handshake(),
		VersionedPlugins: map[int]plugin.PluginSet{pluginpb.ProtocolVersion: {pluginpb.PluginName: &hostPlugin{p: p}}},
		RunnerFunc: func(_ hclog.Logger, cmd *exec.Cmd, _ string) (runner.Runner, error) {
			cmd.Env = append(append(cmd.Env, opts.Env...), spec.Env...)
			r, err := newProcRunner(spec.Path, spec.Args, cmd, channel)
			p.proc = r
			launching <- r
			return r, err
		},
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		// The channel's own keys, not go-plugin's AutoMTLS (see
		// pluginpb.Channel).
		TLSConfig:        channel.HostConfig(),
		StartTimeout:     timeout,
		UnixSocketConfig: sockets,
		GRPCDialOptions:  []grpc.DialOption{grpc.WithReadBufferSize(connBuffer), grpc.WithWriteBufferSize(connBuffer)},
		// go-plugin's own log lines are noise to an operator; plugin output
		// is parsed and re-logged by logs.
		Logger: hclog.New(&hclog.LoggerOptions{Level: hclog.Off, Output: io.Discard}),
		Stderr: p.logs,
		// What the plugin prints to os.Stdout and os.Stderr once it
		// serves comes through go-plugin's stdio stream; without these
		// it is dropped.
		SyncStdout: p.stdout,
		SyncStderr: p.stderr,
	}
}

// handshake starts client's process and completes the handshake, killing
// the process when ctx is done first. go-plugin's Start holds the
// client's lock until the handshake, so Kill cannot cut it short: a
// cancelled launch kills the process, which ends the handshake at once.
func handshake(ctx context.Context, client *plugin.Client, launching <-chan *procRunner) (plugin.ClientProtocol, error) {
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() { //nolint:gosec // G118: Kill runs once ctx is done, so it cannot take ctx
		defer close(watched)
		var r *procRunner
		select {
		case r = <-launching:
		case <-stop:
			return
		}
		select {
		case <-ctx.Done():
			_ = r.Kill(context.Background())
		case <-stop:
		}
	}()
	rpcClient, err := client.Client()
	close(stop)
	<-watched
	return rpcClient, err
}

// versionHint adds what to do to go-plugin's error for a plugin of
// another protocol version, which says only which versions met.
func versionHint(err error) error {
	if !strings.Contains(err.Error(), "incompatible API version") {
		return err
	}
	return fmt.Errorf("%w: rebuild the plugin with an SDK of protocol version %d", err, pluginpb.ProtocolVersion)
}

// newProcess returns the Process of a provider about to be launched, with
// the writers that relay its output to opts' logger and sink.
func newProcess(name string, opts Options) *Process {
	logger := opts.Logger.Named(name)
	var sink func(string)
	if opts.LogSink != nil {
		sink = func(line string) { opts.LogSink(name, line) }
	}
	return &Process{
		Name:   name,
		logs:   &logWriter{logger: logger, sink: sink, plain: hclog.Error},
		stdout: &logWriter{logger: logger, sink: sink, plain: pluginpb.StdoutLevel, stdio: true},
		stderr: &logWriter{logger: logger, sink: sink, plain: pluginpb.StderrLevel, stdio: true},
	}
}

func verify(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("checking the digest of plugin %s: %w", path, err)
	}
	defer f.Close() //nolint:errcheck // read only: a failed close loses nothing
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("checking the digest of plugin %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return &ChecksumError{Path: path, Want: want, Got: got}
	}
	return nil
}

// Problem is one configuration problem a plugin reported.
type Problem = pluginpb.Problem

// Validate hands the plugin its name and configuration and returns the
// problems it found.
func (p *Process) Validate(ctx context.Context, file string, config *yaml.Node, mode sdk.Mode) ([]*Problem, error) {
	resp, err := p.rpc.Validate(ctx, &pluginpb.ValidateRequest{
		Name:   p.Name,
		File:   file,
		Config: pluginpb.FromYAML(config),
		Mode:   pluginpb.ModeOf(string(mode)),
	})
	if err != nil {
		return nil, p.rpcError("validate", err)
	}
	return resp.GetProblems(), nil
}

// Init runs the provider's Init; host, if not nil, is served to the plugin
// through the broker.
func (p *Process) Init(ctx context.Context, host pluginpb.HostServer) error {
	var id uint32
	if host != nil {
		id = p.broker.NextId()
		go p.broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
			s := grpc.NewServer(append(opts, grpc.ReadBufferSize(connBuffer), grpc.WriteBufferSize(connBuffer))...)
			pluginpb.RegisterHostServer(s, host)
			return s
		})
	}
	resp, err := p.rpc.Init(ctx, &pluginpb.InitRequest{HostBrokerId: id})
	if err != nil {
		return p.rpcError("init", err)
	}
	p.logs.waitSynced(resp.GetLogSeq(), logSyncTimeout)
	return remoteError(resp.GetError())
}

// Start runs the provider's Start.
func (p *Process) Start(ctx context.Context) error {
	resp, err := p.rpc.Start(ctx, &pluginpb.StartRequest{})
	if err != nil {
		return p.rpcError("start", err)
	}
	p.logs.waitSynced(resp.GetLogSeq(), logSyncTimeout)
	return remoteError(resp.GetError())
}

// Cancel cancels the plugin's init and/or run context.
func (p *Process) Cancel(ctx context.Context, c lifecycle.Cancellation) error {
	req := &pluginpb.CancelRequest{Init: c.Init, Run: c.Run}
	if c.Cause != nil {
		req.Cause = c.Cause.Error()
	}
	if c.Signal != nil {
		req.Signal = c.Signal.String()
	}
	_, err := p.rpc.Cancel(ctx, req)
	return p.rpcError("cancel", err)
}

// Shutdown runs the provider's Shutdown.
func (p *Process) Shutdown(ctx context.Context) error {
	resp, err := p.rpc.Shutdown(ctx, &pluginpb.ShutdownRequest{})
	if err != nil {
		return p.rpcError("shutdown", err)
	}
	p.logs.waitSynced(resp.GetLogSeq(), logSyncTimeout)
	return remoteError(resp.GetError())
}

// Gather returns the plugin's metric families, marshalled.
func (p *Process) Gather(ctx context.Context) ([][]byte, error) {
	resp, err := p.rpc.Gather(ctx, &pluginpb.GatherRequest{})
	if err != nil {
		return nil, p.rpcError("gather", err)
	}
	return resp.GetFamilies(), nil
}

// Exited is closed when the plugin process has exited.
func (p *Process) Exited() <-chan struct{} { return p.proc.exited }

// ExitErr says how the process exited (nil for status 0); valid once
// Exited is closed.
func (p *Process) ExitErr() error { return p.proc.ExitErr() }

// Pid is the plugin's process id.
func (p *Process) Pid() string { return p.proc.ID() }

// Kill ends the plugin process. The plugin is asked to exit and given
// killGrace to do so; then, or at once if it is frozen or wedged, its
// process group is killed. go-plugin's own Kill asks without a deadline,
// and would wait forever for a plugin that stopped answering.
func (p *Process) Kill() { p.kill(killGrace) }

// Abort kills the plugin's process group at once, without asking: the
// end of a plugin whose Shutdown ran past its deadline, or that stopped
// answering.
func (p *Process) Abort() { p.kill(0) }

func (p *Process) kill(grace time.Duration) {
	asked := make(chan struct{})
	if grace > 0 {
		go func() {
			defer close(asked)
			p.client.Kill()
		}()
		timer := time.NewTimer(grace)
		select {
		case <-p.proc.exited:
		case <-timer.C:
		}
		timer.Stop()
	} else {
		close(asked)
	}
	_ = p.proc.Kill(context.Background())
	<-p.proc.exited
	// go-plugin's Kill returns once the connection broke and its output
	// readers ended, which the dead process makes prompt.
	<-asked
	p.logs.Flush()
	p.stdout.Flush()
	p.stderr.Flush()
}

func (p *Process) rpcError(call string, err error) error {
	if err == nil {
		return nil
	}
	// A dead plugin shows first as a broken connection; its exit status
	// follows once the process is reaped, and says more.
	if status.Code(err) == codes.Unavailable {
		timer := time.NewTimer(2 * time.Second)
		defer timer.Stop()
		select {
		case <-p.proc.exited:
		case <-timer.C:
		}
	}
	select {
	case <-p.proc.exited:
		return &lifecycle.ExitError{Name: p.Name, Err: p.proc.ExitErr()}
	default:
	}
	// The plugin can report the deadline a moment before the caller's own
	// context timer fires; either way the caller asks errors.Is.
	switch status.Code(err) {
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s call to provider %s: %w", call, p.Name, context.DeadlineExceeded)
	case codes.Canceled:
		return fmt.Errorf("%s call to provider %s: %w", call, p.Name, context.Canceled)
	}
	return fmt.Errorf("%s call to provider %s: %w", call, p.Name, err)
}

func remoteError(msg string) error {
	if msg == "" {
		return nil
	}
	return errors.New(truncate.String(msg, maxRemoteError))
}

// hostPlugin is the agent's side of the go-plugin plugin definition.
type hostPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	p *Process
}

func (h *hostPlugin) GRPCServer(*plugin.GRPCBroker, *grpc.Server) error {
	return errors.New("the agent does not serve providers")
}

func (h *hostPlugin) GRPCClient(_ context.Context, broker *plugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	h.p.broker = broker
	h.p.health = healthpb.NewHealthClient(conn)
	return pluginpb.NewProviderClient(conn), nil
}

// Ping checks, within ctx's deadline, that the plugin process answers
// go-plugin's gRPC health check. go-plugin's own Ping takes no deadline, so
// a frozen plugin would hold it forever.
func (p *Process) Ping(ctx context.Context) error {
	resp, err := p.health.Check(ctx, &healthpb.HealthCheckRequest{Service: plugin.GRPCServiceName})
	if err != nil {
		return p.rpcError("ping", err)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("provider %s reports %v", p.Name, s)
	}
	return nil
}
