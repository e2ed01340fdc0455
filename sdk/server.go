package sdk

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"

	"github.com/sia-agent/sia-agent/sdk/conf"
	"github.com/sia-agent/sia-agent/sdk/fault"
	"github.com/sia-agent/sia-agent/sdk/pluginpb"
)

// server adapts a Provider to the plugin protocol. It owns the plugin-side
// init and run contexts, which the agent cancels through Cancel: the calls
// themselves are never cancelled, so a Start under way completes its block.
type server struct {
	pluginpb.UnimplementedProviderServer

	provider Provider
	logger   hclog.Logger
	rules    fault.Rules
	broker   *plugin.GRPCBroker
	registry *prometheus.Registry
	// processMetrics registers the Go and process collectors once.
	processMetrics sync.Once
	signals        fault.Signals

	initCtx, runCtx       context.Context
	cancelInit, cancelRun context.CancelCauseFunc

	logSync *logSync

	mu sync.Mutex
	rt *Runtime

	shutdownOnce sync.Once
	shutdownErr  error
}

func newServer(p Provider, logger hclog.Logger, rules fault.Rules, logSync *logSync) *server {
	s := &server{provider: p, logger: logger, rules: rules, registry: prometheus.NewRegistry(), logSync: logSync}
	s.initCtx, s.cancelInit = context.WithCancelCause(context.Background())
	s.runCtx, s.cancelRun = context.WithCancelCause(context.Background())
	return s
}

func (s *server) runtime() (*Runtime, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rt == nil {
		return nil, errors.New("the agent called the provider before Validate")
	}
	return s.rt, nil
}

func (s *server) Validate(ctx context.Context, req *pluginpb.ValidateRequest) (*pluginpb.ValidateResponse, error) {
	cfg := NewConfig(req.GetFile(), conf.P("providers", req.GetName(), "config"), req.GetConfig().YAML())
	rt := &Runtime{
		Name:     req.GetName(),
		Mode:     Mode(req.GetMode().Word()),
		Config:   cfg,
		Logger:   s.logger,
		Metrics:  s.registry,
		Host:     noHost{},
		Circuits: NewCircuitSet(),
		Faults:   fault.NewPoints(req.GetName(), s.rules, s.signals.Raiser(os.Getppid)),
	}
	s.mu.Lock()
	s.rt = rt
	s.mu.Unlock()

	resp := &pluginpb.ValidateResponse{}
	for _, p := range conf.AsProblems(s.provider.Validate(ctx, cfg)) {
		resp.Problems = append(resp.Problems, pluginpb.FromProblem(p))
	}
	return resp, nil
}

func (s *server) Init(_ context.Context, req *pluginpb.InitRequest) (*pluginpb.InitResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	if id := req.GetHostBrokerId(); id != 0 && s.broker != nil {
		conn, err := s.broker.DialWithOptions(id, grpc.WithReadBufferSize(connBuffer), grpc.WithWriteBufferSize(connBuffer))
		if err != nil {
			return nil, fmt.Errorf("dialing the agent's host service: %w", err)
		}
		client := pluginpb.NewHostClient(conn)
		rt.Host = hostClient{client: client}
		rt.Circuits = &hostCircuits{client: client, own: NewCircuitSet()}
	}
	err = s.provider.Init(s.initCtx, rt)
	return &pluginpb.InitResponse{Error: errString(err), LogSeq: s.logSync.mark()}, nil
}

func (s *server) Start(context.Context, *pluginpb.StartRequest) (*pluginpb.StartResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	err = s.provider.Start(s.runCtx)
	if err == nil {
		err = rt.Fault(s.runCtx, "start")
	}
	return &pluginpb.StartResponse{Error: errString(err), LogSeq: s.logSync.mark()}, nil
}

func (s *server) Cancel(_ context.Context, req *pluginpb.CancelRequest) (*pluginpb.CancelResponse, error) {
	cause := errors.New(req.GetCause())
	if req.GetInit() {
		s.cancelInit(cause)
	}
	if req.GetRun() {
		s.cancelRun(cause)
	}
	if req.GetSignal() != "" {
		s.signals.Handled()
	}
	return &pluginpb.CancelResponse{}, nil
}

func (s *server) Shutdown(ctx context.Context, _ *pluginpb.ShutdownRequest) (*pluginpb.ShutdownResponse, error) {
	if rt, err := s.runtime(); err == nil {
		if err := rt.Fault(ctx, "shutdown"); err != nil {
			return &pluginpb.ShutdownResponse{Error: err.Error(), LogSeq: s.logSync.mark()}, nil //nolint:nilerr // the protocol carries a plugin's error in the response
		}
	}
	err := s.shutdown(ctx)
	return &pluginpb.ShutdownResponse{Error: errString(err), LogSeq: s.logSync.mark()}, nil
}

// shutdown runs the provider's Shutdown at most once.
func (s *server) shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		// The agent cancels the run before any Shutdown; doing it here too
		// means no provider can refresh once its Shutdown began, whatever
		// happened to that message.
		s.cancelInit(errors.New("shutdown"))
		s.cancelRun(errors.New("shutdown"))
		s.shutdownErr = s.provider.Shutdown(ctx)
	})
	return s.shutdownErr
}

// Reconfigure applies a changed config through the provider's
// Reconfigurer. A provider without one answers that it needs a restart.
func (s *server) Reconfigure(ctx context.Context, req *pluginpb.ReconfigureRequest) (*pluginpb.ReconfigureResponse, error) {
	rt, err := s.runtime()
	if err != nil {
		return nil, err
	}
	r, ok := s.provider.(Reconfigurer)
	if !ok {
		return &pluginpb.ReconfigureResponse{Error: "the provider cannot be reconfigured in place", RestartRequired: true}, nil
	}
	cfg := NewConfig(req.GetFile(), conf.P("providers", rt.Name, "config"), req.GetConfig().YAML())
	err = r.Reconfigure(ctx, cfg)
	if err == nil {
		s.mu.Lock()
		rt.Config = cfg
		s.mu.Unlock()
	}
	return &pluginpb.ReconfigureResponse{Error: errString(err), RestartRequired: IsRestartRequired(err), LogSeq: s.logSync.mark()}, nil
}

func (s *server) Gather(context.Context, *pluginpb.GatherRequest) (*pluginpb.GatherResponse, error) {
	// The Go and process collectors hold a description of every runtime
	// metric: made at the first scrape, they cost nothing to a pipeline
	// whose metrics nobody reads.
	s.processMetrics.Do(func() {
		s.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	})
	families, err := s.registry.Gather()
	if err != nil {
		return nil, fmt.Errorf("gathering metrics: %w", err)
	}
	raw, err := pluginpb.MarshalFamilies(families)
	if err != nil {
		return nil, err
	}
	resp := &pluginpb.GatherResponse{Families: raw}
	return resp, nil
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	if msg := err.Error(); msg != "" {
		return msg
	}
	return "unknown error"
}

// grpcPlugin registers the server with go-plugin.
type grpcPlugin struct {
	plugin.NetRPCUnsupportedPlugin
	srv *server
}

func (p *grpcPlugin) GRPCServer(broker *plugin.GRPCBroker, s *grpc.Server) error {
	p.srv.broker = broker
	pluginpb.RegisterProviderServer(s, p.srv)
	return nil
}

func (p *grpcPlugin) GRPCClient(context.Context, *plugin.GRPCBroker, *grpc.ClientConn) (any, error) {
	return nil, errors.New("a provider plugin does not dial providers")
}
