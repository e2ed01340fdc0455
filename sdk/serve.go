package sdk

import (
	"context"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/sia-agent/sia-agent/sdk/fault"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// Serve runs p as a plugin of sia-agent and returns when the agent is done
// with it. Call it from main and print nothing to stdout before: the
// agent reads its handshake there.
//
// Log through Runtime.Logger; it reaches the agent's log under the
// provider's name at the level the agent runs at. So does what the
// standard library's log package writes (a library's complaint, say): at
// warn level, unless a line starts with a level of its own ("[DEBUG]
// ..."), without the package's timestamp, since the agent stamps every
// line. Text printed to os.Stdout or os.Stderr once Serve runs reaches the
// agent too, which logs it line by line (see package pluginpb, Output).
func Serve(p Provider) {
	// go-plugin replaces os.Stderr with a pipe once serving; logs go to the
	// real standard error, which the agent reads line by line.
	logger := hclog.New(&hclog.LoggerOptions{
		Output:            os.Stderr,
		JSONFormat:        true,
		Level:             hclog.LevelFromString(os.Getenv(pluginpb.EnvLogLevel)),
		IndependentLevels: true, // go-plugin's sub-logger is quieter
	})
	routeStdlog(logger)
	rules, err := fault.FromEnv()
	if err != nil {
		logger.Error("invalid fault rules", "env", fault.Env, "error", err)
		os.Exit(1)
	}
	srv := newServer(p, logger, rules, &logSync{w: os.Stderr})

	// SIGTERM is the agent's to handle: a provider waits for its Shutdown
	// call, as go-plugin already does for SIGINT. A SIGHUP (a hangup, or a
	// reload sent to a whole group) must not kill it either.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGTERM, syscall.SIGHUP)
	go exitWithParent(srv, logger)

	pluginLogger := logger.Named("go-plugin")
	pluginLogger.SetLevel(max(hclog.Warn, logger.GetLevel()))
	plugin.Serve(&plugin.ServeConfig{
		HandshakeConfig:  pluginpb.Handshake(),
		VersionedPlugins: map[int]plugin.PluginSet{pluginpb.ProtocolVersion: {pluginpb.PluginName: &grpcPlugin{srv: srv}}},
		GRPCServer:       grpcServer,
		TLSProvider:      pluginpb.ChannelTLS(),
		Logger:           pluginLogger,
	})
}

// grpcServer is the plugin's gRPC server. Its connections are one to the
// agent, carrying small messages: buffers of gRPC's default 32 KiB each
// way are most of an idle plugin's heap.
func grpcServer(opts []grpc.ServerOption) *grpc.Server {
	return grpc.NewServer(append(opts, grpc.ReadBufferSize(connBuffer), grpc.WriteBufferSize(connBuffer))...)
}

// connBuffer is the read and write buffer of a plugin's gRPC connections.
const connBuffer = 4 << 10

// exitWithParent shuts the provider down and exits once the agent is gone,
// so that no plugin outlives it. On Linux the agent also sets a parent-death
// signal; this catches the rest (another OS, a lost signal).
func exitWithParent(srv *server, logger hclog.Logger) {
	parent := os.Getppid()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		if os.Getppid() == parent {
			continue
		}
		logger.Warn("the agent is gone; shutting down", "agent_pid", parent)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := srv.shutdown(ctx); err != nil {
			logger.Error("shutdown after the agent left failed", "error", err)
		}
		cancel()
		os.Exit(1)
	}
}

// routeStdlog sends what the standard library's log package writes to
// logger, each call one line.
func routeStdlog(logger hclog.Logger) {
	log.SetFlags(0)
	log.SetOutput(stdlogWriter{logger: logger})
}

// stdlogWriter is the standard library log package's output in a plugin.
type stdlogWriter struct{ logger hclog.Logger }

func (w stdlogWriter) Write(p []byte) (int, error) {
	level, msg := stdlogLevel(strings.TrimRight(string(p), "\r\n"))
	w.logger.Log(level, msg)
	return len(p), nil
}

// stdlogLevel splits a level prefix off msg, as hclog's own adapter of
// the log package reads them; without one, msg is logged at
// pluginpb.StdlibLogLevel.
func stdlogLevel(msg string) (hclog.Level, string) {
	for _, l := range [...]struct {
		prefix string
		level  hclog.Level
	}{
		{"[TRACE]", hclog.Trace}, {"[DEBUG]", hclog.Debug}, {"[INFO]", hclog.Info},
		{"[WARN]", hclog.Warn}, {"[ERROR]", hclog.Error}, {"[ERR]", hclog.Error},
	} {
		if rest, ok := strings.CutPrefix(msg, l.prefix); ok {
			return l.level, strings.TrimSpace(rest)
		}
	}
	return pluginpb.StdlibLogLevel, msg
}
