package spiffe

import (
	"bytes"
	"context"
	"crypto/tls"
	"slices"
	"strings"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	secretv3 "github.com/envoyproxy/go-control-plane/envoy/service/secret/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// sdsClient is an SDS client on go-control-plane's generated types.
func sdsClient(t *testing.T, socket string) secretv3.SecretDiscoveryServiceClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	must(t, err)
	t.Cleanup(func() { conn.Close() })
	return secretv3.NewSecretDiscoveryServiceClient(conn)
}

// sdsStreamClient is a StreamSecrets stream whose responses arrive on a
// channel, so that a test waits for them with a deadline.
type sdsStreamClient struct {
	t      *testing.T
	stream grpc.BidiStreamingClient[discoveryv3.DiscoveryRequest, discoveryv3.DiscoveryResponse]
	resps  chan *discoveryv3.DiscoveryResponse
	errs   chan error
}

func openSDS(t *testing.T, socket string) *sdsStreamClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := sdsClient(t, socket).StreamSecrets(ctx)
	must(t, err)
	s := &sdsStreamClient{t: t, stream: stream, resps: make(chan *discoveryv3.DiscoveryResponse, 16), errs: make(chan error, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			resp, err := stream.Recv()
			if err != nil {
				s.errs <- err
				return
			}
			s.resps <- resp
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return s
}

func (s *sdsStreamClient) send(req *discoveryv3.DiscoveryRequest) {
	s.t.Helper()
	req.TypeUrl = secretTypeURL
	if req.Node == nil {
		req.Node = &corev3.Node{Id: "envoy-test", Cluster: "test"}
	}
	must(s.t, s.stream.Send(req))
}

func (s *sdsStreamClient) next() *discoveryv3.DiscoveryResponse {
	s.t.Helper()
	select {
	case r := <-s.resps:
		return r
	case err := <-s.errs:
		s.t.Fatalf("the stream ended: %v", err)
	case <-ctxTimeout(s.t):
		s.t.Fatal("no response")
	}
	return nil
}

// ack acknowledges resp, as Envoy does.
func (s *sdsStreamClient) ack(resp *discoveryv3.DiscoveryResponse, names ...string) {
	s.t.Helper()
	s.send(&discoveryv3.DiscoveryRequest{ResourceNames: names, VersionInfo: resp.VersionInfo, ResponseNonce: resp.Nonce})
}

// secretsOf decodes a response's secrets by name.
func secretsOf(t *testing.T, resp *discoveryv3.DiscoveryResponse) map[string]*tlsv3.Secret {
	t.Helper()
	if resp.TypeUrl != secretTypeURL {
		t.Errorf("type_url %q", resp.TypeUrl)
	}
	out := map[string]*tlsv3.Secret{}
	for _, res := range resp.Resources {
		var s tlsv3.Secret
		must(t, res.UnmarshalTo(&s))
		out[s.Name] = &s
	}
	return out
}

func names(m map[string]*tlsv3.Secret) []string {
	var n []string
	for k := range m {
		n = append(n, k)
	}
	slices.Sort(n)
	return n
}

// checkTLS checks that a TLS certificate secret is the key and chain of
// leaf, in a form Go's TLS (like Envoy's) loads.
func checkTLS(t *testing.T, s *tlsv3.Secret, f *fixture, serial string) {
	t.Helper()
	tc := s.GetTlsCertificate()
	if tc == nil {
		t.Fatalf("secret %s is not a TLS certificate", s.Name)
	}
	pair, err := tls.X509KeyPair(tc.GetCertificateChain().GetInlineBytes(), tc.GetPrivateKey().GetInlineBytes())
	if err != nil {
		t.Fatalf("secret %s: %v", s.Name, err)
	}
	if len(pair.Certificate) != 2 || pair.Leaf.SerialNumber.String() != serial || !bytes.Equal(pair.Certificate[1], f.ca.inter.Raw) {
		t.Errorf("secret %s: %d certificates, serial %s; want the leaf %s and the intermediate", s.Name, len(pair.Certificate), pair.Leaf.SerialNumber, serial)
	}
}

// Envoy asks for the default SVID, a role by its SPIFFE ID and the
// default bundle; an ACK asks for nothing more, a rotation sends the
// secrets again, a NACK is logged and not answered, and new names are.
func TestSDSStreamsSecrets(t *testing.T) {
	f := newFixture(t)
	f.writeIdentity(nil)
	reader := f.writeRole()
	r := start(t, f.config("role_certs:\n  targets: [sia.demo:role.reader]\n"))
	s := openSDS(t, f.socket())
	want := []string{"ROOTCA", "default", readerID}
	s.send(&discoveryv3.DiscoveryRequest{ResourceNames: want})
	resp := s.next()
	got := secretsOf(t, resp)
	if !slices.Equal(names(got), want) {
		t.Fatalf("secrets %v, want %v", names(got), want)
	}
	checkTLS(t, got["default"], f, f.id.SerialNumber.String())
	checkTLS(t, got[readerID], f, reader.SerialNumber.String())
	if ca := got["ROOTCA"].GetValidationContext().GetTrustedCa().GetInlineBytes(); !bytes.Equal(ca, f.ca.bundlePEM()) {
		t.Errorf("ROOTCA holds %q, want the CA bundle", ca)
	}

	s.ack(resp, want...)
	rotated := f.writeIdentity(nil)
	resp = s.next() // not a second answer to the ACK: the rotation
	got = secretsOf(t, resp)
	checkTLS(t, got["default"], f, rotated.SerialNumber.String())

	s.send(&discoveryv3.DiscoveryRequest{ResourceNames: want, VersionInfo: "v0", ResponseNonce: resp.Nonce,
		ErrorDetail: &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: "bad secret"}})
	r.log.wait("An SDS client could not use the secrets it was sent", "node=envoy-test", `error="bad secret"`)

	s.send(&discoveryv3.DiscoveryRequest{ResourceNames: []string{"ALL", "spiffe://sia.demo"}, ResponseNonce: resp.Nonce})
	resp = s.next()
	if got := names(secretsOf(t, resp)); !slices.Equal(got, []string{"ALL", "spiffe://sia.demo"}) {
		t.Errorf("secrets %v after new names", got)
	}
	// Counted once SendMsg returned, which may be after the client has it.
	waitFor(t, "3 SDS pushes counted", func() bool { return testutil.ToFloat64(pushes(r, apiSDS)) == 3 })
}

// A name the agent does not serve is waited for, and says so in the log;
// no names is every secret.
func TestSDSUnknownAndWildcardNames(t *testing.T) {
	f := newFixture(t)
	f.writeIdentity(nil)
	r := start(t, f.config(""))
	s := openSDS(t, f.socket())
	s.send(&discoveryv3.DiscoveryRequest{ResourceNames: []string{"default", "spiffe://sia.demo/sa/nobody"}})
	r.log.wait("An SDS client waits for a secret that is not served (yet)", "name=spiffe://sia.demo/sa/nobody")
	s.send(&discoveryv3.DiscoveryRequest{})
	resp := s.next()
	want := []string{"ALL", "ROOTCA", "default", "spiffe://sia.demo", agentID}
	if got := names(secretsOf(t, resp)); !slices.Equal(got, want) {
		t.Errorf("every secret: %v, want %v", got, want)
	}
}

// FetchSecrets answers once; delta SDS and other types are refused with a
// status that says what to do.
func TestSDSFetchAndRefusals(t *testing.T) {
	f := newFixture(t)
	f.writeIdentity(nil, agentID, "athenz://instanceid/sys.auth.dev/pod-1")
	start(t, f.config(""))
	c := sdsClient(t, f.socket())
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	resp, err := c.FetchSecrets(ctx, &discoveryv3.DiscoveryRequest{TypeUrl: secretTypeURL, ResourceNames: []string{"default"}})
	must(t, err)
	// Not an X.509-SVID, yet Envoy can use it.
	checkTLS(t, secretsOf(t, resp)["default"], f, f.id.SerialNumber.String())

	_, err = c.FetchSecrets(ctx, &discoveryv3.DiscoveryRequest{TypeUrl: "type.googleapis.com/envoy.config.cluster.v3.Cluster"})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "serves "+secretTypeURL+" only") {
		t.Errorf("another type: %v", err)
	}
	_, err = c.FetchSecrets(ctx, &discoveryv3.DiscoveryRequest{ResourceNames: make([]string, maxResourceNames+1)})
	if status.Code(err) != codes.InvalidArgument {
		t.Errorf("too many names: %v", err)
	}
	delta, err := c.DeltaSecrets(ctx)
	if err == nil {
		_, err = delta.Recv()
	}
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "api_type to GRPC") {
		t.Errorf("DeltaSecrets: %v", err)
	}
}
