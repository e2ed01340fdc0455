package spiffe

import (
	"bytes"
	"slices"
	"testing"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// What the server sends decodes with go-control-plane's types into the
// same secrets.
func TestDiscoveryResponseDecodesWithEnvoysTypes(t *testing.T) {
	resp := &discoveryResponse{versionInfo: "v1", nonce: "7", resources: []secret{
		{name: "default", chainPEM: []byte("chain"), keyPEM: []byte("key")},
		{name: "ROOTCA", trustedCA: []byte("ca")},
		{name: "empty", chainPEM: []byte{}, keyPEM: []byte{}},
	}}
	var got discoveryv3.DiscoveryResponse
	if err := proto.Unmarshal(resp.marshal(), &got); err != nil {
		t.Fatal(err)
	}
	if got.VersionInfo != "v1" || got.Nonce != "7" || got.TypeUrl != secretTypeURL || len(got.Resources) != 3 {
		t.Fatalf("decoded %v", &got)
	}
	var secrets []*tlsv3.Secret
	for _, res := range got.Resources {
		if res.TypeUrl != secretTypeURL {
			t.Errorf("resource type %q", res.TypeUrl)
		}
		var s tlsv3.Secret
		if err := res.UnmarshalTo(&s); err != nil {
			t.Fatal(err)
		}
		secrets = append(secrets, &s)
	}
	tc := secrets[0].GetTlsCertificate()
	if secrets[0].Name != "default" || string(tc.GetCertificateChain().GetInlineBytes()) != "chain" || string(tc.GetPrivateKey().GetInlineBytes()) != "key" {
		t.Errorf("TLS certificate %v", secrets[0])
	}
	if secrets[1].Name != "ROOTCA" || string(secrets[1].GetValidationContext().GetTrustedCa().GetInlineBytes()) != "ca" {
		t.Errorf("validation context %v", secrets[1])
	}
	// An empty inline value is still an inline value.
	if _, ok := secrets[2].GetTlsCertificate().GetCertificateChain().GetSpecifier().(*corev3.DataSource_InlineBytes); !ok {
		t.Errorf("empty chain decoded as %v", secrets[2].GetTlsCertificate().GetCertificateChain())
	}
	// And it encodes as go-control-plane would.
	want, err := proto.MarshalOptions{Deterministic: true}.Marshal(secrets[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(resp.resources[0].marshal(), want) {
		t.Errorf("secret encodes as %x, go-control-plane as %x", resp.resources[0].marshal(), want)
	}
}

// What Envoy sends, every field of it, decodes into what the server reads.
func TestDiscoveryRequestDecodesFromEnvoysTypes(t *testing.T) {
	meta, err := structpb.NewStruct(map[string]any{"k": "v", "n": 1.5})
	if err != nil {
		t.Fatal(err)
	}
	req := &discoveryv3.DiscoveryRequest{
		VersionInfo: "v1",
		Node: &corev3.Node{Id: "envoy-1", Cluster: "c1", Metadata: meta, UserAgentName: "envoy",
			Extensions: []*corev3.Extension{{Name: "envoy.tls", Category: "transport_sockets"}}},
		ResourceNames:    []string{"default", "ROOTCA"},
		ResourceLocators: []*discoveryv3.ResourceLocator{{Name: "x"}},
		TypeUrl:          secretTypeURL,
		ResponseNonce:    "3",
		ErrorDetail:      &rpcstatus.Status{Code: 3, Message: "bad"},
	}
	b, err := proto.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	var got discoveryRequest
	if err := got.unmarshal(b); err != nil {
		t.Fatal(err)
	}
	want := discoveryRequest{versionInfo: "v1", nodeID: "envoy-1", nodeCluster: "c1", resourceNames: []string{"default", "ROOTCA"},
		typeURL: secretTypeURL, responseNonce: "3", errorDetail: &rpcStatus{code: 3, message: "bad"}}
	if got.versionInfo != want.versionInfo || got.nodeID != want.nodeID || got.nodeCluster != want.nodeCluster ||
		!slices.Equal(got.resourceNames, want.resourceNames) || got.typeURL != want.typeURL ||
		got.responseNonce != want.responseNonce || got.errorDetail == nil || *got.errorDetail != *want.errorDetail {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
	if err := got.unmarshal(b[:len(b)-1]); err == nil {
		t.Error("a truncated request decoded")
	}
}

// Whatever arrives, decoding does not panic, and where go-control-plane's
// types decode it too, both read the same.
func FuzzDiscoveryRequest(f *testing.F) {
	seed, _ := proto.Marshal(&discoveryv3.DiscoveryRequest{
		VersionInfo: "1", Node: &corev3.Node{Id: "n"}, ResourceNames: []string{"a", "b"}, ResponseNonce: "2",
		ErrorDetail: &rpcstatus.Status{Code: 1, Message: "m"},
	})
	f.Add(seed)
	f.Add([]byte{0x1a, 0x80})
	f.Fuzz(func(t *testing.T, b []byte) {
		var got discoveryRequest
		err := got.unmarshal(b)
		var want discoveryv3.DiscoveryRequest
		if err != nil || proto.Unmarshal(b, &want) != nil {
			return
		}
		if !slices.Equal(got.resourceNames, want.ResourceNames) || got.responseNonce != want.ResponseNonce ||
			got.nodeID != want.GetNode().GetId() || (got.errorDetail != nil) != (want.ErrorDetail != nil) {
			t.Errorf("decoded %+v; go-control-plane decodes %v", got, &want)
		}
	})
}
