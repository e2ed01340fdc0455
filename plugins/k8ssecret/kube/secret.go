// Package kube is the k8s-secret provider's Secret, through Kubernetes'
// client-go. Only the plugin binary links it (see package k8ssecret).
//
// It speaks to the API server with client-go's REST client and a scheme
// of core/v1 alone, not the typed clientset: the clientset's scheme
// registers every API group at start, which measured 19.0 MiB PSS idle
// for a program that builds one client, against 10.2 MiB this way.
package kube

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/sia-agent/sia-agent/plugins/k8ssecret"
)

// The service account's files in a pod.
const (
	namespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
)

// The Secret's keys, as for every kubernetes.io/tls Secret.
const (
	keyData  = corev1.TLSPrivateKeyKey // tls.key
	certData = corev1.TLSCertKey       // tls.crt
)

// Secret is the backup, through a REST client of the core/v1 API.
type Secret struct {
	client       *rest.RESTClient
	name, ns     string
	fieldManager string
	owner        *metav1.OwnerReference // nil: none
}

// New returns the Secret ns/name, through client (a REST client of
// core/v1: NewClient), applied as fieldManager.
func New(client *rest.RESTClient, ns, name, fieldManager string) *Secret {
	return &Secret{client: client, name: name, ns: ns, fieldManager: fieldManager}
}

// NewClient returns a REST client of core/v1 on the API server rc
// reaches, which decodes core/v1 objects alone.
func NewClient(rc *rest.Config) (*rest.RESTClient, error) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("building the core/v1 scheme: %w", err)
	}
	rc = rest.CopyConfig(rc)
	rc.APIPath = "/api"
	rc.GroupVersion = &corev1.SchemeGroupVersion
	rc.ContentType = runtime.ContentTypeJSON
	rc.NegotiatedSerializer = serializer.NewCodecFactory(scheme).WithoutConversion()
	client, err := rest.RESTClientFor(rc)
	if err != nil {
		return nil, fmt.Errorf("building the Kubernetes client: %w", err)
	}
	return client, nil
}

// Connect returns the Secret cfg names, on the API server that cfg's
// kubeconfig, $KUBECONFIG or the pod's service account reaches. In a pod
// the Secret is owned by the pod's service account.
func Connect(cfg k8ssecret.Config) (k8ssecret.Store, error) {
	ns := cfg.Namespace
	if ns == "" {
		var err error
		if ns, err = podNamespace(); err != nil {
			return nil, err
		}
	}
	rc, err := restConfig(cfg.Kubeconfig)
	if err != nil {
		return nil, err
	}
	rc.Timeout = cfg.Timeout.Std()
	rc.UserAgent = "sia-agent (k8s-secret)"
	client, err := NewClient(rc)
	if err != nil {
		return nil, err
	}
	s := New(client, ns, cfg.Secret, cfg.FieldManager)
	s.owner = serviceAccountOwner(rc.BearerTokenFile)
	return s, nil
}

// String names the Secret: namespace/name.
func (s *Secret) String() string { return s.ns + "/" + s.name }

// Close closes the idle connections to the API server, through
// client-go's round trippers, which http.Client's own
// CloseIdleConnections does not see through.
func (s *Secret) Close() {
	if s.client.Client != nil {
		utilnet.CloseIdleConnectionsFor(s.client.Client.Transport)
	}
}

// restConfig is how the API server is reached: the kubeconfig file when
// one is named or $KUBECONFIG is set, else the pod's service account.
func restConfig(kubeconfig string) (*rest.Config, error) {
	if kubeconfig == "" {
		kubeconfig = os.Getenv(clientcmd.RecommendedConfigPathEnvVar)
	}
	if kubeconfig == "" {
		cfg, err := rest.InClusterConfig()
		if err != nil {
			return nil, fmt.Errorf("no kubeconfig and not in a pod: %w", err)
		}
		return cfg, nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("reading kubeconfig %s: %w", kubeconfig, err)
	}
	return cfg, nil
}

// podNamespace is the pod's namespace, from its service account.
func podNamespace() (string, error) {
	b, err := os.ReadFile(namespaceFile)
	if err != nil {
		return "", fmt.Errorf("namespace: not configured, and not in a pod: %w", err)
	}
	return strings.TrimSpace(string(b)), nil
}

// Read returns the identity the Secret holds: none, and no error, when it
// does not exist or lacks tls.key or tls.crt.
func (s *Secret) Read(ctx context.Context) (keyPEM, certPEM []byte, err error) {
	var sec corev1.Secret
	err = s.client.Get().Namespace(s.ns).Resource("secrets").Name(s.name).Do(ctx).Into(&sec)
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("reading secret %s: %w", s, err)
	}
	return sec.Data[keyData], sec.Data[certData], nil
}

// Write applies the identity to the Secret (server-side apply, taking the
// fields over from any other manager), creating it if need be. What it
// sends is the fields it owns: the type, a label, the owner and the data.
func (s *Secret) Write(ctx context.Context, keyPEM, certPEM []byte) error {
	sec := corev1.Secret{
		TypeMeta: metav1.TypeMeta{Kind: "Secret", APIVersion: "v1"},
		ObjectMeta: metav1.ObjectMeta{
			Name: s.name, Namespace: s.ns,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "sia-agent"},
		},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{keyData: keyPEM, certData: certPEM},
	}
	if s.owner != nil {
		sec.OwnerReferences = []metav1.OwnerReference{*s.owner}
	}
	body, err := json.Marshal(&sec)
	if err != nil {
		return fmt.Errorf("encoding secret %s: %w", s, err)
	}
	err = s.client.Patch(types.ApplyPatchType).Namespace(s.ns).Resource("secrets").Name(s.name).
		Param("fieldManager", s.fieldManager).Param("force", "true").Body(body).Do(ctx).Error()
	if err != nil {
		return fmt.Errorf("applying secret %s: %w", s, err)
	}
	return nil
}

// serviceAccountOwner is the pod's service account as the Secret's owner,
// so that the backup goes when the account does, as k8s-athenz-sia set
// it: from the claims of the account's token, which the API server
// verifies at every call. A token without them (a legacy one, or a
// kubeconfig's) gives no owner.
func serviceAccountOwner(tokenFile string) *metav1.OwnerReference {
	if tokenFile == "" {
		return nil
	}
	raw, err := os.ReadFile(tokenFile)
	if err != nil {
		return nil
	}
	name, uid := serviceAccountClaims(strings.TrimSpace(string(raw)))
	if name == "" || uid == "" {
		return nil
	}
	return &metav1.OwnerReference{APIVersion: "v1", Kind: "ServiceAccount", Name: name, UID: types.UID(uid)}
}

// serviceAccountClaims reads the service account's name and uid from a
// projected token's claims; empty for anything else.
func serviceAccountClaims(token string) (name, uid string) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", ""
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return "", ""
	}
	var claims struct {
		Kubernetes struct {
			ServiceAccount struct {
				Name string `json:"name"`
				UID  string `json:"uid"`
			} `json:"serviceaccount"`
		} `json:"kubernetes.io"`
	}
	if json.Unmarshal(payload, &claims) != nil {
		return "", ""
	}
	return claims.Kubernetes.ServiceAccount.Name, claims.Kubernetes.ServiceAccount.UID
}
