package spiffe

import (
	"errors"
	"fmt"

	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/encoding/protowire"
)

// The SDS messages, encoded here by hand with protowire rather than with
// go-control-plane's generated types. Those bring the descriptors of half
// of Envoy's API with them (envoy.config.core.v3 alone is most of it),
// which every process of the agent would build at start, since every
// first-party provider lives in the one executable: about half a
// megabyte of memory a process. The xDS v3 wire format is stable, and
// SDS needs a handful of fields of a handful of messages; the tests check
// every one of them against go-control-plane's types.
//
// Field numbers, from envoy/service/discovery/v3/discovery.proto,
// envoy/config/core/v3/base.proto, google/rpc/status.proto,
// google/protobuf/any.proto and
// envoy/extensions/transport_sockets/tls/v3/{secret,common}.proto.
const (
	reqVersionInfo   = 1 // DiscoveryRequest
	reqNode          = 2
	reqResourceNames = 3
	reqTypeURL       = 4
	reqResponseNonce = 5
	reqErrorDetail   = 6

	nodeID      = 1 // config.core.v3.Node
	nodeCluster = 2

	statusCode    = 1 // google.rpc.Status
	statusMessage = 2

	respVersionInfo = 1 // DiscoveryResponse
	respResources   = 2
	respTypeURL     = 4
	respNonce       = 5

	anyTypeURL = 1 // google.protobuf.Any
	anyValue   = 2

	secretName              = 1 // tls.v3.Secret
	secretTLSCertificate    = 2
	secretValidationContext = 4

	tlsCertChain  = 1 // tls.v3.TlsCertificate
	tlsPrivateKey = 2

	validationTrustedCA = 1 // tls.v3.CertificateValidationContext

	dataSourceInlineBytes = 2 // config.core.v3.DataSource
)

// secretTypeURL is the type of every resource SDS serves.
const secretTypeURL = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret"

// discoveryRequest is what the server reads of an
// envoy.service.discovery.v3.DiscoveryRequest.
type discoveryRequest struct {
	versionInfo   string
	nodeID        string
	nodeCluster   string
	resourceNames []string
	typeURL       string
	responseNonce string
	errorDetail   *rpcStatus // a NACK: Envoy could not use the last response
}

type rpcStatus struct {
	code    int32
	message string
}

// fields calls fn with each field of a message in b, its number, type and
// value: the bytes of a length-delimited field, the number of a varint.
func fields(b []byte, fn func(num protowire.Number, typ protowire.Type, data []byte, n uint64) error) error {
	for len(b) > 0 {
		num, typ, tagLen := protowire.ConsumeTag(b)
		if tagLen < 0 {
			return protowire.ParseError(tagLen)
		}
		b = b[tagLen:]
		var data []byte
		var v uint64
		var n int
		switch typ {
		case protowire.BytesType:
			data, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			v, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if err := fn(num, typ, data, v); err != nil {
			return err
		}
	}
	return nil
}

func (r *discoveryRequest) unmarshal(b []byte) error {
	*r = discoveryRequest{}
	return fields(b, func(num protowire.Number, typ protowire.Type, data []byte, _ uint64) error {
		if typ != protowire.BytesType {
			return nil // not a field this server reads
		}
		switch num {
		case reqVersionInfo:
			r.versionInfo = string(data)
		case reqNode:
			return r.unmarshalNode(data)
		case reqResourceNames:
			r.resourceNames = append(r.resourceNames, string(data))
		case reqTypeURL:
			r.typeURL = string(data)
		case reqResponseNonce:
			r.responseNonce = string(data)
		case reqErrorDetail:
			r.errorDetail = &rpcStatus{}
			return r.errorDetail.unmarshal(data)
		}
		return nil
	})
}

func (r *discoveryRequest) unmarshalNode(b []byte) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, data []byte, _ uint64) error {
		switch {
		case typ != protowire.BytesType:
		case num == nodeID:
			r.nodeID = string(data)
		case num == nodeCluster:
			r.nodeCluster = string(data)
		}
		return nil
	})
}

func (s *rpcStatus) unmarshal(b []byte) error {
	return fields(b, func(num protowire.Number, typ protowire.Type, data []byte, v uint64) error {
		switch {
		case num == statusCode && typ == protowire.VarintType:
			s.code = int32(v) //nolint:gosec // G115: an int32 field; protobuf truncates its varint so
		case num == statusMessage && typ == protowire.BytesType:
			s.message = string(data)
		}
		return nil
	})
}

// discoveryResponse is an envoy.service.discovery.v3.DiscoveryResponse of
// secrets.
type discoveryResponse struct {
	versionInfo string
	resources   []secret
	nonce       string
}

// secret is an envoy.extensions.transport_sockets.tls.v3.Secret: a key and
// its certificate chain, or a validation context.
type secret struct {
	name      string
	chainPEM  []byte // with keyPEM: a tls_certificate
	keyPEM    []byte
	trustedCA []byte // else: a validation_context
}

func (r *discoveryResponse) marshal() []byte {
	var b []byte
	b = appendString(b, respVersionInfo, r.versionInfo)
	for _, s := range r.resources {
		var a []byte
		a = appendString(a, anyTypeURL, secretTypeURL)
		a = appendBytes(a, anyValue, s.marshal())
		b = appendBytes(b, respResources, a)
	}
	b = appendString(b, respTypeURL, secretTypeURL)
	return appendString(b, respNonce, r.nonce)
}

func (s secret) marshal() []byte {
	b := appendString(nil, secretName, s.name)
	if s.trustedCA != nil {
		vc := appendBytes(nil, validationTrustedCA, inlineBytes(s.trustedCA))
		return appendBytes(b, secretValidationContext, vc)
	}
	var tc []byte
	tc = appendBytes(tc, tlsCertChain, inlineBytes(s.chainPEM))
	tc = appendBytes(tc, tlsPrivateKey, inlineBytes(s.keyPEM))
	return appendBytes(b, secretTLSCertificate, tc)
}

// inlineBytes is a config.core.v3.DataSource holding data.
func inlineBytes(data []byte) []byte {
	return appendBytes(nil, dataSourceInlineBytes, data)
}

// appendString appends a string field; proto3 leaves out an empty one.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendBytes appends a message or bytes field, even an empty one: an
// empty message that is set differs from one that is not.
func appendBytes(b []byte, num protowire.Number, v []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, v)
}

// wireMessage is a message this file encodes.
type wireMessage interface {
	wire() string
}

func (*discoveryRequest) wire() string  { return "DiscoveryRequest" }
func (*discoveryResponse) wire() string { return "DiscoveryResponse" }

// codec is the server's: the hand-encoded SDS messages here, protobuf for
// every other message.
type codec struct {
	proto encoding.CodecV2
}

func newCodec() (codec, error) {
	proto := encoding.GetCodecV2("proto")
	if proto == nil {
		return codec{}, errors.New("gRPC's protobuf codec is not registered")
	}
	return codec{proto: proto}, nil
}

func (c codec) Marshal(v any) (mem.BufferSlice, error) {
	switch m := v.(type) {
	case *discoveryResponse:
		return mem.BufferSlice{mem.SliceBuffer(m.marshal())}, nil
	case wireMessage:
		return nil, fmt.Errorf("the server does not send a %s", m.wire())
	}
	return c.proto.Marshal(v)
}

func (c codec) Unmarshal(data mem.BufferSlice, v any) error {
	switch m := v.(type) {
	case *discoveryRequest:
		return m.unmarshal(data.Materialize())
	case wireMessage:
		return fmt.Errorf("the server does not read a %s", m.wire())
	}
	return c.proto.Unmarshal(data, v)
}

// Name is that of the codec it stands in for: clients send
// application/grpc+proto, or application/grpc, which means the same.
func (codec) Name() string { return "proto" }
