// Command zts-dev is a ZTS-compatible development server: the official
// Athenz ZTS client and the sia-agent run against it on one machine.
//
//	zts-dev [--config FILE] [--state-dir DIR] [--listen HOST:PORT]
//
// Without --config it serves the built-in demo data set. Once listening it
// prints one line on stdout:
//
//	zts-dev listening on https://127.0.0.1:4443/zts/v1 (CA bundle: /abs/dir/ca.pem)
//
// SIGHUP (or a change to the config file) reloads the config; SIGINT and
// SIGTERM shut down gracefully. Exit status: 0 after a signal, 1 when it
// cannot start or serve, 2 for usage or config errors (named by file:line).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/sdk/conf"
	"github.com/sia-agent/sia-agent/ztsdev"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	opts, code := parseFlags(args, stderr)
	if opts == nil {
		return code
	}
	srv, err := ztsdev.New(*opts)
	if err != nil {
		if _, ok := errors.AsType[conf.Problems](err); ok {
			fmt.Fprintf(stderr, "zts-dev: invalid config:\n%v\n", err)
			return 2
		}
		fmt.Fprintf(stderr, "zts-dev: %v\n", err)
		return 1
	}
	return serve(srv, opts.Logger, stdout)
}

// parseFlags reads the command line into the server's options; nil and
// the exit code when the command line is wrong, or asks for help.
func parseFlags(args []string, stderr io.Writer) (*ztsdev.Options, int) {
	fs := flag.NewFlagSet("zts-dev", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "YAML data set: domains, roles, providers, faults (default: the built-in demo data set)")
	stateDir := fs.String("state-dir", ".zts-dev", "directory for the CA, server cert, signing key and cert records; created on first start")
	listen := fs.String("listen", ztsdev.DefaultListen, "host:port to listen on; port 0 picks a free port")
	logLevel := fs.String("log-level", "info", "trace, debug, info, warn or error")
	logFormat := fs.String("log-format", "text", "text or json")
	serviceCerts := fs.Bool("service-certs", true, "write a key and identity certificate for every configured service into <state-dir>/service-certs")
	watch := fs.Duration("watch-interval", time.Second, "how often to check the config file for changes; 0 disables (SIGHUP still reloads)")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: zts-dev [flags]\n\nA ZTS-compatible development server.\n\nflags:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, 0
		}
		return nil, 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "zts-dev: unexpected arguments: %v\n", fs.Args())
		return nil, 2
	}
	level := hclog.LevelFromString(*logLevel)
	if level == hclog.NoLevel {
		fmt.Fprintf(stderr, "zts-dev: unknown --log-level %q\n", *logLevel)
		return nil, 2
	}
	if *logFormat != "text" && *logFormat != "json" {
		fmt.Fprintf(stderr, "zts-dev: unknown --log-format %q\n", *logFormat)
		return nil, 2
	}
	logger := hclog.New(&hclog.LoggerOptions{
		Name: "zts-dev", Level: level, Output: stderr, JSONFormat: *logFormat == "json",
	})
	return &ztsdev.Options{
		ConfigFile:    *configFile,
		StateDir:      *stateDir,
		Listen:        *listen,
		Logger:        logger,
		WatchInterval: *watch,
		ServiceCerts:  *serviceCerts,
	}, 0
}

// serve runs srv until SIGINT or SIGTERM, reloading its config on
// SIGHUP, and returns the exit code.
func serve(srv *ztsdev.Server, logger hclog.Logger, stdout io.Writer) int {
	var wg sync.WaitGroup
	defer wg.Wait() // after stop, below, has ended the SIGHUP loop
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				logger.Info("SIGHUP: reloading config")
				_ = srv.Reload() // failures are logged; the old config stays
			}
		}
	})

	// The readiness line: stable, on stdout, once the port is bound.
	fmt.Fprintf(stdout, "zts-dev listening on %s (CA bundle: %s)\n", srv.URL(), srv.CAFile())
	if err := srv.Serve(ctx); err != nil {
		logger.Error("server failed", "error", err)
		return 1
	}
	return 0
}
