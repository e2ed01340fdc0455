package spiffe

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// sdsService is Envoy's Secret Discovery Service (v3): the same
// certificates as the Workload API, as TLS certificates, and the bundle as
// validation contexts. The service is registered by hand, with the
// messages of sdswire.go.
type sdsService interface {
	streamSecrets(grpc.ServerStream) error
	fetchSecrets(context.Context, *discoveryRequest) (*discoveryResponse, error)
}

const sdsServiceName = "envoy.service.secret.v3.SecretDiscoveryService"

var sdsServiceDesc = grpc.ServiceDesc{
	ServiceName: sdsServiceName,
	HandlerType: (*sdsService)(nil),
	Methods:     []grpc.MethodDesc{{MethodName: "FetchSecrets", Handler: fetchSecretsHandler}},
	Streams: []grpc.StreamDesc{
		{StreamName: "DeltaSecrets", Handler: deltaSecretsHandler, ServerStreams: true, ClientStreams: true},
		{StreamName: "StreamSecrets", Handler: streamSecretsHandler, ServerStreams: true, ClientStreams: true},
	},
	Metadata: "envoy/service/secret/v3/sds.proto",
}

func streamSecretsHandler(srv any, stream grpc.ServerStream) error {
	return srv.(sdsService).streamSecrets(stream)
}

func deltaSecretsHandler(any, grpc.ServerStream) error {
	return status.Error(codes.Unimplemented, "incremental (delta) SDS is not served: set the SDS config source's api_type to GRPC")
}

func fetchSecretsHandler(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) { //nolint:revive // context-as-argument: grpc.MethodHandler's signature
	req := new(discoveryRequest)
	if err := dec(req); err != nil {
		return nil, err
	}
	handler := func(ctx context.Context, req any) (any, error) {
		return srv.(sdsService).fetchSecrets(ctx, req.(*discoveryRequest))
	}
	if interceptor == nil {
		return handler(ctx, req)
	}
	return interceptor(ctx, req, &grpc.UnaryServerInfo{Server: srv, FullMethod: "/" + sdsServiceName + "/FetchSecrets"}, handler)
}

// Bounds on what one request may ask for.
const (
	maxResourceNames  = 64
	maxResourceName   = 1024
	sdsResourcesWarns = 8 // names not served that one stream warns about
)

type sdsServer struct {
	srv *server
}

// secrets are the secrets snap serves at now, by resource name.
func (srv *server) secrets(snap *snapshot, now time.Time) map[string]secret {
	out := map[string]secret{}
	tls := func(name string, c *credential) {
		out[name] = secret{name: name, chainPEM: c.chainPEM(), keyPEM: c.keyPEM()}
	}
	for _, c := range snap.all() {
		if !now.Before(c.leaf().NotAfter) {
			continue
		}
		if c == snap.identity {
			tls(srv.s.SDS.DefaultSVIDName, c)
		}
		if !c.id.IsZero() {
			tls(c.id.String(), c)
		}
	}
	if len(snap.bundle) > 0 {
		ca := certsPEM(snap.bundle)
		names := []string{srv.s.SDS.DefaultBundleName, srv.s.SDS.AllBundlesName}
		for _, td := range snap.domains {
			names = append(names, td.IDString())
		}
		for _, n := range names {
			out[n] = secret{name: n, trustedCA: ca}
		}
	}
	return out
}

// pick returns the secrets named, in order, or every one for no names (a
// wildcard request), and the names it does not have.
func pick(all map[string]secret, names []string) ([]secret, []string) {
	if len(names) == 0 {
		keys := make([]string, 0, len(all))
		for k := range all {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		names = keys
	}
	var got []secret
	var missing []string
	for _, n := range names {
		if s, ok := all[n]; ok {
			got = append(got, s)
		} else {
			missing = append(missing, n)
		}
	}
	return got, missing
}

func (s *sdsServer) fetchSecrets(_ context.Context, req *discoveryRequest) (*discoveryResponse, error) {
	if err := s.srv.checkRequest(req); err != nil {
		return nil, err
	}
	snap, _ := s.srv.src.current()
	got, _ := pick(s.srv.secrets(snap, s.srv.now()), req.resourceNames)
	return &discoveryResponse{versionInfo: snap.version, resources: got}, nil
}

// checkRequest refuses a request the server cannot answer.
func (srv *server) checkRequest(req *discoveryRequest) error {
	switch {
	case req.typeURL != "" && req.typeURL != secretTypeURL:
		return srv.badRequest("type_url %q: this server serves %s only", req.typeURL, secretTypeURL)
	case len(req.resourceNames) > maxResourceNames:
		return srv.badRequest("%d resource names: ask for at most %d at once", len(req.resourceNames), maxResourceNames)
	}
	for _, n := range req.resourceNames {
		if len(n) > maxResourceName {
			return srv.badRequest("a resource name of %d bytes: at most %d", len(n), maxResourceName)
		}
	}
	return nil
}

// sdsStream is the state of one StreamSecrets stream, state of the world:
// each response holds every secret the client asked for.
type sdsStream struct {
	srv      *server
	stream   grpc.ServerStream
	names    []string // asked for; none means every secret
	asked    bool     // a request came
	pending  bool     // the client waits for a response to its names
	sent     string   // version of the last response
	nonce    int
	warned   map[string]bool
	nodeID   string
	lastNACK string
}

// streamSecrets answers each request, and sends the secrets again each
// time they change. Requests are read by a goroutine of the stream, which
// the server waits for at Shutdown.
func (s *sdsServer) streamSecrets(stream grpc.ServerStream) error {
	srv := s.srv
	ctx := stream.Context()
	srv.opened(ctx, apiSDS)
	defer srv.m.streams.WithLabelValues(apiSDS).Dec()
	reqs := make(chan *discoveryRequest)
	recvErr := make(chan error, 1)
	srv.receivers.Add(1)
	go func() {
		defer srv.receivers.Done()
		for {
			req := new(discoveryRequest)
			if err := stream.RecvMsg(req); err != nil {
				recvErr <- err
				return
			}
			select {
			case reqs <- req:
			case <-ctx.Done():
				return
			}
		}
	}()
	st := &sdsStream{srv: srv, stream: stream, warned: map[string]bool{}}
	for {
		snap, changed := srv.src.current()
		if err := st.respond(snap); err != nil {
			return err
		}
		select {
		case req := <-reqs:
			if err := st.take(req); err != nil {
				return err
			}
		case <-changed:
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-srv.stopping:
			return errShuttingDown
		}
	}
}

// take handles a request: a first one, new names, an ACK or a NACK.
func (st *sdsStream) take(req *discoveryRequest) error {
	if err := st.srv.checkRequest(req); err != nil {
		return err
	}
	if req.nodeID != "" {
		st.nodeID = req.nodeID
	}
	if req.responseNonce != "" && req.responseNonce != strconv.Itoa(st.nonce) {
		return nil // about an older response, which the last one replaced
	}
	if d := req.errorDetail; d != nil && req.versionInfo != st.lastNACK {
		st.lastNACK = req.versionInfo
		st.srv.log.Warn("An SDS client could not use the secrets it was sent", "node", st.nodeID,
			"names", req.resourceNames, "version", req.versionInfo, "error", d.message)
	}
	names := slices.Clone(req.resourceNames)
	slices.Sort(names)
	names = slices.Compact(names)
	if !st.asked || !slices.Equal(names, st.names) {
		st.asked, st.pending, st.names = true, true, names
	}
	return nil
}

// respond sends the secrets asked for when the client waits for them or
// they changed, once every one of them is there: Envoy takes a response
// that lacks a secret it asked for as an error.
func (st *sdsStream) respond(snap *snapshot) error {
	if !st.asked || (!st.pending && snap.version == st.sent) {
		return nil
	}
	all := st.srv.secrets(snap, st.srv.now())
	got, missing := pick(all, st.names)
	if len(missing) > 0 || len(got) == 0 {
		st.warnMissing(missing, all)
		return nil
	}
	st.nonce++
	resp := &discoveryResponse{versionInfo: snap.version, resources: got, nonce: strconv.Itoa(st.nonce)}
	if err := st.stream.SendMsg(resp); err != nil {
		return err
	}
	st.srv.m.pushes.WithLabelValues(apiSDS).Inc()
	st.sent, st.pending = snap.version, false
	return nil
}

// warnMissing says once per stream, for a few names, which secret a client
// waits for that the agent does not serve (yet).
func (st *sdsStream) warnMissing(missing []string, served map[string]secret) {
	for _, n := range missing {
		if st.warned[n] || len(st.warned) >= sdsResourcesWarns {
			continue
		}
		st.warned[n] = true
		names := make([]string, 0, len(served))
		for k := range served {
			names = append(names, k)
		}
		slices.Sort(names)
		st.srv.log.Warn("An SDS client waits for a secret that is not served (yet)", "node", st.nodeID, "name", n, "served", names)
	}
}
