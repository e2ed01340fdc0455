package spiffe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Bounds on what a client can make the server spend.
const (
	// maxRecvMsg bounds a request: Envoy's DiscoveryRequest carries its
	// node description, a few kilobytes.
	maxRecvMsg = 256 << 10
	// maxStreams bounds the streams of one connection.
	maxStreams = 16
	// handshakeTimeout bounds a connection's setup.
	handshakeTimeout = 10 * time.Second
	bufferSize       = 16 << 10
	// shutdownGrace bounds the drain at Shutdown: streams are told to end
	// at once, and the connections left are closed after it.
	shutdownGrace = 5 * time.Second
)

// The APIs, as the metrics label them.
const (
	apiX509SVID    = "x509svid"
	apiX509Bundles = "x509bundles"
	apiSDS         = "sds"
)

var errShuttingDown = status.Error(codes.Unavailable, "the agent is shutting down")

// server serves the Workload API and SDS on the socket.
type server struct {
	s    *settings
	src  *source
	log  hclog.Logger
	m    *metrics
	now  func() time.Time
	gate *gate
	grpc *grpc.Server

	stopping  chan struct{} // closed at Shutdown: every stream ends
	stopOnce  sync.Once
	receivers sync.WaitGroup // the SDS streams' request readers
}

func newServer(s *settings, src *source, log hclog.Logger, m *metrics) (*server, error) {
	c, err := newCodec()
	if err != nil {
		return nil, err
	}
	srv := &server{s: s, src: src, log: log, m: m, now: time.Now, stopping: make(chan struct{})}
	srv.gate = &gate{s: s, log: newRefusalLog(log), refused: func(reason string) { m.refusals.WithLabelValues(reason).Inc() }}
	srv.grpc = grpc.NewServer(
		grpc.Creds(peerCredentials{}),
		grpc.ForceServerCodecV2(c),
		grpc.ChainUnaryInterceptor(srv.gate.unary),
		grpc.ChainStreamInterceptor(srv.gate.stream),
		grpc.MaxRecvMsgSize(maxRecvMsg),
		grpc.MaxConcurrentStreams(maxStreams),
		grpc.ConnectionTimeout(handshakeTimeout),
		grpc.ReadBufferSize(bufferSize),
		grpc.WriteBufferSize(bufferSize),
		// Stop returns once every handler has: the SDS streams' readers
		// are then all counted, and waited for.
		grpc.WaitForHandlers(true),
	)
	workload.RegisterSpiffeWorkloadAPIServer(srv.grpc, &workloadAPI{srv: srv})
	srv.grpc.RegisterService(&sdsServiceDesc, &sdsServer{srv: srv})
	return srv, nil
}

// watch calls send with the snapshot now, and again with each newer one,
// until the client goes or the server stops. send returns errNotYet when
// the snapshot has nothing to send yet; any other error ends the stream.
func (srv *server) watch(ctx context.Context, api string, send func(*snapshot) error) error {
	srv.opened(ctx, api)
	defer srv.m.streams.WithLabelValues(api).Dec()
	var sent string
	for {
		snap, changed := srv.src.current()
		if snap.version != sent {
			switch err := send(snap); {
			case errors.Is(err, errNotYet):
			case err != nil:
				return err
			default:
				sent = snap.version
				srv.m.pushes.WithLabelValues(api).Inc()
			}
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-srv.stopping:
			return errShuttingDown
		}
	}
}

// opened counts a stream and logs who opened it.
func (srv *server) opened(ctx context.Context, api string) {
	srv.m.streams.WithLabelValues(api).Inc()
	c, _ := callerOf(ctx)
	srv.log.Debug("Opened a stream", "api", api, "uid", c.uid, "gid", c.gid, "pid", c.pid)
}

// unavailable is err for a stream: errNotYet while the files are not
// there yet, so that it waits, else a status that says what is wrong.
func unavailable(err error, what string) error {
	if errors.Is(err, errNotYet) || errors.Is(err, fs.ErrNotExist) {
		return errNotYet
	}
	return status.Errorf(codes.Unavailable, "%s: %v", what, err)
}

// badRequest refuses a request with a status that says what was wrong.
func (srv *server) badRequest(format string, args ...any) error {
	srv.m.refusals.WithLabelValues(refusedBadRequest).Inc()
	return status.Errorf(codes.InvalidArgument, format, args...)
}

// serve runs the server on ln until shutdown.
func (srv *server) serve(ln *limitListener) {
	if err := srv.grpc.Serve(ln); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		srv.log.Error("The SPIFFE server stopped serving", "error", err)
	}
}

// shutdown ends every stream, with the status Unavailable that clients
// retry on, and waits for the calls to return, at most shutdownGrace or
// until ctx is done; then it closes the connections left, and the socket.
func (srv *server) shutdown(ctx context.Context) {
	srv.stopOnce.Do(func() { close(srv.stopping) })
	ctx, cancel := context.WithTimeout(ctx, shutdownGrace)
	defer cancel()
	stop := context.AfterFunc(ctx, func() {
		srv.log.Warn("Closing the SPIFFE server's connections with calls in flight")
		srv.grpc.Stop()
	})
	srv.grpc.GracefulStop()
	stop()
	srv.receivers.Wait()
}

// metrics are the provider's own; the agent adds provider="<name>".
type metrics struct {
	connections prometheus.Gauge
	streams     *prometheus.GaugeVec
	pushes      *prometheus.CounterVec
	refusals    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "spiffe_connections", Help: "Connections open on the socket.",
		}),
		streams: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "spiffe_streams", Help: "Watch streams open, by API: x509svid, x509bundles (Workload API), sds.",
		}, []string{"api"}),
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spiffe_pushes_total", Help: "Responses sent on watch streams, by API; each rotation sends one on every stream.",
		}, []string{"api"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "spiffe_refusals_total", Help: "Calls and connections refused, by reason.",
		}, []string{"reason"}),
	}
	for _, api := range []string{apiX509SVID, apiX509Bundles, apiSDS} {
		m.streams.WithLabelValues(api)
		m.pushes.WithLabelValues(api)
	}
	for _, r := range []string{refusedCaller, refusedHeader, refusedConnLimit, refusedBadRequest} {
		m.refusals.WithLabelValues(r)
	}
	for _, c := range []prometheus.Collector{m.connections, m.streams, m.pushes, m.refusals} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering metrics: %w", err)
		}
	}
	return m, nil
}
