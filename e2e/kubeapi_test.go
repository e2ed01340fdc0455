package e2e

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/sia-agent/sia-agent/internal/e2e"
)

// kubeAPI is the part of a Kubernetes API server that the k8s-secret
// provider uses: reading a Secret and server-side applying one, over the
// HTTP API client-go speaks. No API server can run here (it needs etcd
// and its own binaries), so the e2e tests serve this much; the provider's
// own tests use client-go's fake clientset, which applies as the server
// does.
type kubeAPI struct {
	url        string
	kubeconfig string // a kubeconfig that reaches it

	mu      sync.Mutex
	secrets map[string]*corev1.Secret // by namespace/name
	applies int
	applied chan *corev1.Secret // each Secret applied, as stored
}

func startKubeAPI(t *testing.T) *kubeAPI {
	t.Helper()
	k := &kubeAPI{secrets: map[string]*corev1.Secret{}, applied: make(chan *corev1.Secret, 16)}
	srv := httptest.NewTLSServer(http.HandlerFunc(k.serve))
	t.Cleanup(srv.Close)
	k.url = srv.URL
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	k.kubeconfig = e2e.WriteFile(t, t.TempDir(), "kubeconfig", fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %s, certificate-authority-data: %s}}]
users: [{name: agent, user: {token: test-token}}]
contexts: [{name: test, context: {cluster: test, user: agent, namespace: sia}}]
current-context: test
`, srv.URL, base64.StdEncoding.EncodeToString(ca)))
	return k
}

func (k *kubeAPI) get(ns, name string) *corev1.Secret {
	k.mu.Lock()
	defer k.mu.Unlock()
	if s := k.secrets[ns+"/"+name]; s != nil {
		return s.DeepCopy()
	}
	return nil
}

func (k *kubeAPI) applyCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.applies
}

func (k *kubeAPI) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 6 || parts[0] != "api" || parts[1] != "v1" || parts[2] != "namespaces" || parts[4] != "secrets" {
		apiStatus(w, http.StatusNotFound, "NotFound", "no such path: "+r.URL.Path)
		return
	}
	ns, name := parts[3], parts[5]
	if r.Header.Get("Authorization") != "Bearer test-token" {
		apiStatus(w, http.StatusUnauthorized, "Unauthorized", "no token")
		return
	}
	switch r.Method {
	case http.MethodGet:
		if s := k.get(ns, name); s != nil {
			writeObject(w, s)
			return
		}
		apiStatus(w, http.StatusNotFound, "NotFound", fmt.Sprintf("secrets %q not found", name))
	case http.MethodPatch:
		k.apply(w, r, ns, name)
	default:
		apiStatus(w, http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method)
	}
}

// apply stores the Secret of a server-side apply: the fields the manager
// sets, which for the provider are all of them.
func (k *kubeAPI) apply(w http.ResponseWriter, r *http.Request, ns, name string) {
	if r.Header.Get("Content-Type") != "application/apply-patch+yaml" || r.URL.Query().Get("fieldManager") == "" {
		apiStatus(w, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "want a server-side apply with a field manager")
		return
	}
	body, err := io.ReadAll(r.Body)
	var s corev1.Secret
	if err == nil {
		err = json.Unmarshal(body, &s) // what client-go sends is JSON, which is YAML
	}
	if err != nil || s.Name != name || s.Namespace != ns {
		apiStatus(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("not the Secret %s/%s: %v", ns, name, err))
		return
	}
	s.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: r.URL.Query().Get("fieldManager"), Operation: metav1.ManagedFieldsOperationApply}}
	k.mu.Lock()
	k.secrets[ns+"/"+name] = s.DeepCopy()
	k.applies++
	k.mu.Unlock()
	select {
	case k.applied <- s.DeepCopy():
	default:
	}
	writeObject(w, &s)
}

func writeObject(w http.ResponseWriter, s *corev1.Secret) {
	s.Kind, s.APIVersion = "Secret", "v1"
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s)
}

func apiStatus(w http.ResponseWriter, code int, reason, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(metav1.Status{
		TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
		Status:   metav1.StatusFailure, Message: message, Reason: metav1.StatusReason(reason), Code: int32(code), //nolint:gosec // an HTTP status
	})
}
