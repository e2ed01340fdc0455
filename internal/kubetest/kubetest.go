// Package kubetest serves the part of the Kubernetes API that the
// k8s-secret provider uses, reading a Secret and server-side applying one,
// over the HTTPS API that client-go speaks, for tests: no API server can
// run here (it needs etcd and its own binaries). Behind the wire is
// client-go's fake clientset, which keeps objects and applies
// server-side, field managers and conflicts included, as the API server
// does; a test reaches it (Clientset) to put objects or inject failures.
package kubetest

import (
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
)

// Token is the bearer token the API accepts; the kubeconfig presents it.
const Token = "test-token"

// API is a test API server.
type API struct {
	URL string
	// Kubeconfig is a file that reaches the API with Token, trusting its
	// certificate.
	Kubeconfig string
	// Clientset holds the objects.
	Clientset *fake.Clientset

	mu      sync.Mutex
	applies int
	applied chan *corev1.Secret
}

// Start serves an API until the test ends.
func Start(t testing.TB) *API {
	t.Helper()
	a := &API{Clientset: fake.NewClientset(), applied: make(chan *corev1.Secret, 16)}
	srv := httptest.NewTLSServer(http.HandlerFunc(a.serve))
	t.Cleanup(srv.Close)
	a.URL = srv.URL
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	a.Kubeconfig = filepath.Join(t.TempDir(), "kubeconfig")
	cfg := fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: test, cluster: {server: %s, certificate-authority-data: %s}}]
users: [{name: agent, user: {token: %s}}]
contexts: [{name: test, context: {cluster: test, user: agent}}]
current-context: test
`, srv.URL, base64.StdEncoding.EncodeToString(ca), Token)
	if err := os.WriteFile(a.Kubeconfig, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return a
}

// Applied returns each Secret applied, as stored, in order.
func (a *API) Applied() <-chan *corev1.Secret { return a.applied }

// Applies is how many applies the API answered.
func (a *API) Applies() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.applies
}

// Secret returns the Secret ns/name, or nil.
func (a *API) Secret(t testing.TB, ns, name string) *corev1.Secret {
	t.Helper()
	s, err := a.Clientset.CoreV1().Secrets(ns).Get(t.Context(), name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		t.Fatal(err)
	}
	return s
}

func (a *API) serve(w http.ResponseWriter, r *http.Request) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 6 || parts[0] != "api" || parts[1] != "v1" || parts[2] != "namespaces" || parts[4] != "secrets" {
		writeError(w, apierrors.NewNotFound(corev1.Resource("path"), r.URL.Path))
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+Token {
		writeError(w, apierrors.NewUnauthorized("no token"))
		return
	}
	var (
		s   *corev1.Secret
		err error
	)
	switch r.Method {
	case http.MethodGet:
		s, err = a.Clientset.CoreV1().Secrets(parts[3]).Get(r.Context(), parts[5], metav1.GetOptions{})
	case http.MethodPatch:
		s, err = a.apply(r, parts[3], parts[5])
	default:
		err = apierrors.NewMethodNotSupported(corev1.Resource("secrets"), r.Method)
	}
	if err != nil {
		writeError(w, err)
		return
	}
	s.Kind, s.APIVersion = "Secret", "v1"
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(s)
}

// apply passes a server-side apply to the clientset, as the API server
// takes it: the body, the field manager and force.
func (a *API) apply(r *http.Request, ns, name string) (*corev1.Secret, error) {
	if types.PatchType(r.Header.Get("Content-Type")) != types.ApplyPatchType {
		return nil, apierrors.NewBadRequest("want a server-side apply, Content-Type " + string(types.ApplyPatchType))
	}
	q := r.URL.Query()
	force := q.Get("force") == "true"
	opts := metav1.PatchOptions{FieldManager: q.Get("fieldManager"), Force: &force}
	if opts.FieldManager == "" {
		return nil, apierrors.NewBadRequest("fieldManager is required for apply requests")
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, apierrors.NewBadRequest(err.Error())
	}
	s, err := a.Clientset.CoreV1().Secrets(ns).Patch(r.Context(), name, types.ApplyPatchType, body, opts)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	a.applies++
	a.mu.Unlock()
	select {
	case a.applied <- s.DeepCopy():
	default:
	}
	return s, nil
}

// writeError answers with err's Status, as the API server does.
func writeError(w http.ResponseWriter, err error) {
	var st apierrors.APIStatus
	status := metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError, Message: err.Error()}
	if errors.As(err, &st) {
		status = st.Status()
	}
	status.Kind, status.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(status.Code))
	_ = json.NewEncoder(w).Encode(status)
}
