package spiffe

import (
	"context"
	"time"

	"github.com/spiffe/go-spiffe/v2/proto/spiffe/workload"
	"github.com/spiffe/go-spiffe/v2/spiffeid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// workloadAPI is the X.509 part of the SPIFFE Workload API
// (the SPIFFE Workload API standard, section 5).
type workloadAPI struct {
	workload.UnimplementedSpiffeWorkloadAPIServer
	srv *server
}

// noJWT is why the JWT part of the API is not served; docs/spiffe.md says
// more.
const noJWT = "JWT-SVIDs are not served: ZTS issues no token whose subject is a SPIFFE ID for an audience the caller chooses, " +
	"and the agent has no key that relying parties trust to sign one (see docs/spiffe.md)"

// FetchX509SVID streams the X.509-SVIDs: one response now, one more each
// time they or the bundle change.
func (w *workloadAPI) FetchX509SVID(_ *workload.X509SVIDRequest, stream grpc.ServerStreamingServer[workload.X509SVIDResponse]) error {
	return w.srv.watch(stream.Context(), apiX509SVID, func(snap *snapshot) error {
		resp, err := x509SVIDResponse(snap, w.srv.now())
		if err != nil {
			return err
		}
		return stream.Send(resp)
	})
}

// FetchX509Bundles streams the trust bundles, one response each time they
// change.
func (w *workloadAPI) FetchX509Bundles(_ *workload.X509BundlesRequest, stream grpc.ServerStreamingServer[workload.X509BundlesResponse]) error {
	return w.srv.watch(stream.Context(), apiX509Bundles, func(snap *snapshot) error {
		resp, err := x509BundlesResponse(snap)
		if err != nil {
			return err
		}
		return stream.Send(resp)
	})
}

func (w *workloadAPI) FetchJWTSVID(context.Context, *workload.JWTSVIDRequest) (*workload.JWTSVIDResponse, error) {
	return nil, status.Error(codes.Unimplemented, noJWT)
}

func (w *workloadAPI) FetchJWTBundles(*workload.JWTBundlesRequest, grpc.ServerStreamingServer[workload.JWTBundlesResponse]) error {
	return status.Error(codes.Unimplemented, noJWT)
}

func (w *workloadAPI) ValidateJWTSVID(context.Context, *workload.ValidateJWTSVIDRequest) (*workload.ValidateJWTSVIDResponse, error) {
	return nil, status.Error(codes.Unimplemented, noJWT)
}

// x509SVIDResponse is the response for snap: every SVID with the bundle of
// its trust domain, and the bundle of each other trust domain as a
// federated bundle. The bundle is the one CA bundle: ZTS signs every
// Athenz domain's certificates with it. errNotYet while there is nothing
// to serve yet.
func x509SVIDResponse(snap *snapshot, now time.Time) (*workload.X509SVIDResponse, error) {
	svids := snap.svids(now)
	if len(svids) == 0 {
		return nil, unavailable(snap.svidsProblem(now), "no X.509-SVID to serve")
	}
	bundle := snap.bundleDER()
	resp := &workload.X509SVIDResponse{}
	own := map[spiffeid.TrustDomain]bool{}
	for _, c := range svids {
		resp.Svids = append(resp.Svids, &workload.X509SVID{
			SpiffeId:    c.id.String(),
			X509Svid:    c.chainDER(),
			X509SvidKey: c.keyDER,
			Bundle:      bundle,
			Hint:        c.name,
		})
		own[c.id.TrustDomain()] = true
	}
	for _, td := range snap.domains {
		if !own[td] {
			if resp.FederatedBundles == nil {
				resp.FederatedBundles = map[string][]byte{}
			}
			resp.FederatedBundles[td.IDString()] = bundle
		}
	}
	return resp, nil
}

// x509BundlesResponse maps every trust domain to the bundle.
func x509BundlesResponse(snap *snapshot) (*workload.X509BundlesResponse, error) {
	if len(snap.bundle) == 0 || len(snap.domains) == 0 {
		err := snap.problems[bundleName]
		if err == nil || len(snap.bundle) > 0 {
			err = errNotYet // no trust domain until an SVID names one
		}
		return nil, unavailable(err, "no X.509 bundle to serve")
	}
	bundle := snap.bundleDER()
	resp := &workload.X509BundlesResponse{Bundles: map[string][]byte{}}
	for _, td := range snap.domains {
		resp.Bundles[td.IDString()] = bundle
	}
	return resp, nil
}
