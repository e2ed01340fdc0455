package pluginhost

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/sia-agent/sia-agent/internal/e2e"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// The channel to a real plugin process answers the agent, and nobody who
// lacks this launch's keys: not a plain client, not one holding another
// launch's keys.
func TestChannelAnswersOnlyTheAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a plugin")
	}
	bins := t.TempDir()
	if err := e2e.Build(bins, "sia-plugin-test"); err != nil {
		t.Fatal(err)
	}
	p, err := Launch(context.Background(), Spec{Name: "probe", Path: filepath.Join(bins, "sia-plugin-test")},
		Options{Logger: hclog.NewNullLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Ping(ctx); err != nil {
		t.Fatalf("the agent's own ping: %v", err)
	}

	addr := p.client.ReattachConfig().Addr
	other, err := pluginpb.NewChannel()
	if err != nil {
		t.Fatal(err)
	}
	for name, creds := range map[string]credentials.TransportCredentials{
		"plain":         insecure.NewCredentials(),
		"other launch":  credentials.NewTLS(other.HostConfig()),
		"no client key": credentials.NewTLS(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}), //nolint:gosec // the attacker's view
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := grpc.NewClient("passthrough:///"+addr.String(), grpc.WithTransportCredentials(creds),
				grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
					return (&net.Dialer{}).DialContext(ctx, addr.Network(), addr.String())
				}))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
				t.Error("the plugin answered")
			}
		})
	}
	if _, err := os.Stat(addr.String()); err != nil {
		t.Errorf("the plugin's socket: %v", err)
	}
}
