// Package kube is the k8s-secret provider's Secret, through Kubernetes'
// client-go. Only the plugin binary links it (see package k8ssecret).
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
	"k8s.io/apimachinery/pkg/types"
	applycorev1 "k8s.io/client-go/applyconfigurations/core/v1"
	applymetav1 "k8s.io/client-go/applyconfigurations/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
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

// Secret is the backup, through client-go's typed core/v1 client.
type Secret struct {
	secrets      corev1client.SecretInterface
	name, ns     string
	fieldManager string
	owner        *applymetav1.OwnerReferenceApplyConfiguration // nil: none
}

// New returns the Secret ns/name of secrets, applied as fieldManager.
func New(secrets corev1client.SecretsGetter, ns, name, fieldManager string) *Secret {
	return &Secret{secrets: secrets.Secrets(ns), name: name, ns: ns, fieldManager: fieldManager}
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
	client, err := corev1client.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("building the Kubernetes client: %w", err)
	}
	s := New(client, ns, cfg.Secret, cfg.FieldManager)
	s.owner = serviceAccountOwner(rc.BearerTokenFile)
	return s, nil
}

// String names the Secret: namespace/name.
func (s *Secret) String() string { return s.ns + "/" + s.name }

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
	sec, err := s.secrets.Get(ctx, s.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, nil, nil
	case err != nil:
		return nil, nil, fmt.Errorf("reading secret %s: %w", s, err)
	}
	return sec.Data[keyData], sec.Data[certData], nil
}

// Write applies the identity to the Secret (server-side apply, taking the
// fields over from any other manager), creating it if need be.
func (s *Secret) Write(ctx context.Context, keyPEM, certPEM []byte) error {
	ac := applycorev1.Secret(s.name, s.ns).
		WithType(corev1.SecretTypeTLS).
		WithLabels(map[string]string{"app.kubernetes.io/managed-by": "sia-agent"}).
		WithData(map[string][]byte{keyData: keyPEM, certData: certPEM})
	if s.owner != nil {
		ac = ac.WithOwnerReferences(s.owner)
	}
	if _, err := s.secrets.Apply(ctx, ac, metav1.ApplyOptions{FieldManager: s.fieldManager, Force: true}); err != nil {
		return fmt.Errorf("applying secret %s: %w", s, err)
	}
	return nil
}

// serviceAccountOwner is the pod's service account as the Secret's owner,
// so that the backup goes when the account does, as k8s-athenz-sia set
// it: from the claims of the account's token, which the API server
// verifies at every call. A token without them (a legacy one, or a
// kubeconfig's) gives no owner.
func serviceAccountOwner(tokenFile string) *applymetav1.OwnerReferenceApplyConfiguration {
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
	return applymetav1.OwnerReference().WithAPIVersion("v1").WithKind("ServiceAccount").
		WithName(name).WithUID(types.UID(uid))
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
