// Command spiffe-fetch prints what a SPIFFE Workload API serves, with
// go-spiffe's client: the X.509-SVIDs (SPIFFE ID, hint, serial, expiry)
// and the trust bundles. `make demo` points it at the spiffe provider's
// socket. With -watch it prints every update, each rotation, until
// interrupted.
//
//	go run ./internal/cmd/spiffe-fetch -socket .demo/spiffe.sock [-watch]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/spiffe/go-spiffe/v2/workloadapi"
)

func main() {
	socket := flag.String("socket", "", "the Workload API socket; default $"+workloadapi.SocketEnv)
	watch := flag.Bool("watch", false, "print every update until interrupted")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *socket, *watch, os.Stdout); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "spiffe-fetch:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, socket string, watch bool, out io.Writer) error {
	var opts []workloadapi.ClientOption
	if socket != "" {
		abs, err := filepath.Abs(socket)
		if err != nil {
			return err
		}
		opts = append(opts, workloadapi.WithAddr("unix://"+abs))
	}
	c, err := workloadapi.New(ctx, opts...)
	if err != nil {
		return err
	}
	defer c.Close() //nolint:errcheck // nothing is lost if closing the client fails
	if !watch {
		fetchCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		x, err := c.FetchX509Context(fetchCtx)
		if err != nil {
			return err
		}
		show(out, x)
		return nil
	}
	return c.WatchX509Context(ctx, printer{out})
}

type printer struct{ out io.Writer }

func (p printer) OnX509ContextUpdate(x *workloadapi.X509Context) { show(p.out, x) }
func (p printer) OnX509ContextWatchError(err error) {
	if !errors.Is(err, context.Canceled) {
		fmt.Fprintln(p.out, "watch error:", err)
	}
}

func show(out io.Writer, x *workloadapi.X509Context) {
	fmt.Fprintf(out, "%s: %d X.509-SVIDs\n", time.Now().Format(time.TimeOnly), len(x.SVIDs))
	for _, s := range x.SVIDs {
		leaf := s.Certificates[0]
		fmt.Fprintf(out, "  %s  hint=%s serial=%s expires=%s chain=%d\n", s.ID, s.Hint,
			leaf.SerialNumber, leaf.NotAfter.UTC().Format(time.RFC3339), len(s.Certificates))
	}
	var tds []string
	for _, b := range x.Bundles.Bundles() {
		tds = append(tds, fmt.Sprintf("%s (%d CA certificates)", b.TrustDomain(), len(b.X509Authorities())))
	}
	fmt.Fprintf(out, "  bundles: %s\n", strings.Join(tds, ", "))
}
