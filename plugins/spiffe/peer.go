package spiffe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/hashicorp/go-hclog"
	"golang.org/x/time/rate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// caller is who is at the other end of a connection, as the kernel says:
// SO_PEERCRED, taken when the peer connected, so that it cannot be
// changed by handing the socket to another process afterwards.
type caller struct {
	uid, gid, pid int
}

func (caller) AuthType() string { return "peercred" }

// peerCredentials are the transport credentials of the socket: no
// encryption (the kernel carries the bytes), and the caller of each
// connection in its AuthInfo for the interceptors to check.
type peerCredentials struct{}

var _ credentials.TransportCredentials = peerCredentials{}

func (peerCredentials) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, nil, fmt.Errorf("a %T is not a Unix socket", conn)
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, nil, err
	}
	if credErr != nil {
		return nil, nil, fmt.Errorf("reading the peer's credentials (SO_PEERCRED): %w", credErr)
	}
	return conn, caller{uid: int(cred.Uid), gid: int(cred.Gid), pid: int(cred.Pid)}, nil
}

func (peerCredentials) ClientHandshake(context.Context, string, net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("the spiffe provider's credentials are for its server only")
}

func (peerCredentials) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "peercred"}
}

func (c peerCredentials) Clone() credentials.TransportCredentials { return c }

func (peerCredentials) OverrideServerName(string) error { return nil }

// workloadAPIPrefix begins the full method names of the Workload API.
const workloadAPIPrefix = "/SpiffeWorkloadAPI/"

// securityHeader is the metadata every Workload API call must carry, so
// that a server-side request forgery cannot reach the API (the SPIFFE
// Workload Endpoint standard, section 3.2).
const securityHeader = "workload.spiffe.io"

// Refusal reasons, as the refusals metric labels them.
const (
	refusedCaller     = "caller"
	refusedHeader     = "security_header"
	refusedConnLimit  = "connection_limit"
	refusedBadRequest = "bad_request"
)

// gate checks every call: the caller against the allow list, and the
// Workload API's security header. Each refusal is a gRPC status that says
// what was wrong, a count and a log line.
type gate struct {
	s       *settings
	refused func(reason string)
	log     *refusalLog
}

func (g *gate) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if err := g.check(ctx, info.FullMethod); err != nil {
		return nil, err
	}
	return handler(ctx, req)
}

func (g *gate) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if err := g.check(ss.Context(), info.FullMethod); err != nil {
		return err
	}
	return handler(srv, ss)
}

func (g *gate) check(ctx context.Context, method string) error {
	c, ok := callerOf(ctx)
	if !ok {
		// Every connection has one: the handshake failed otherwise.
		return status.Error(codes.Internal, "the caller's credentials are unknown")
	}
	if strings.HasPrefix(method, workloadAPIPrefix) {
		md, _ := metadata.FromIncomingContext(ctx)
		if v := md.Get(securityHeader); len(v) != 1 || v[0] != "true" {
			g.refuse(refusedHeader, c, method, "the security header is missing")
			return status.Error(codes.InvalidArgument, "security header missing from request: a Workload API call carries the metadata "+securityHeader+": true")
		}
	}
	if !g.s.allowed(c.uid, c.gid) {
		g.refuse(refusedCaller, c, method, "the caller is not in the allow list")
		return status.Errorf(codes.PermissionDenied, "the caller (uid %d, gid %d) is not in the spiffe provider's allow list (allow.uids, allow.gids)", c.uid, c.gid)
	}
	return nil
}

func (g *gate) refuse(reason string, c caller, method, why string) {
	g.refused(reason)
	g.log.Warn("Refused a call: "+why, "method", method, "uid", c.uid, "gid", c.gid, "pid", c.pid)
}

func callerOf(ctx context.Context) (caller, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return caller{}, false
	}
	c, ok := p.AuthInfo.(caller)
	return c, ok
}

// refusalLog logs refusals at most a few a second, so that a client
// retrying in a loop cannot fill the log; the lines left out are counted
// in the next one.
type refusalLog struct {
	log        hclog.Logger
	limit      *rate.Limiter
	suppressed atomic.Int64
}

func newRefusalLog(log hclog.Logger) *refusalLog {
	return &refusalLog{log: log, limit: rate.NewLimiter(2, 10)}
}

func (r *refusalLog) Warn(msg string, kv ...any) {
	if !r.limit.Allow() {
		r.suppressed.Add(1)
		return
	}
	if n := r.suppressed.Swap(0); n > 0 {
		kv = append(kv, "left_out", n)
	}
	r.log.Warn(msg, kv...)
}
