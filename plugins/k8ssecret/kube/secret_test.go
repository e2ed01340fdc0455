package kube

import (
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8stesting "k8s.io/client-go/testing"

	"github.com/sia-agent/sia-agent/internal/kubetest"
)

// The Secret's owner is the pod's service account, from its projected
// token; any other token gives none.
func TestServiceAccountOwner(t *testing.T) {
	jwt := func(claims string) string {
		enc := base64.RawURLEncoding.EncodeToString
		return enc([]byte(`{"alg":"RS256"}`)) + "." + enc([]byte(claims)) + ".sig"
	}
	dir := t.TempDir()
	for _, c := range []struct {
		token, name, uid string
	}{
		{jwt(`{"kubernetes.io":{"namespace":"sports","serviceaccount":{"name":"api","uid":"1234-5678"}}}`), "api", "1234-5678"},
		{jwt(`{"sub":"system:serviceaccount:sports:api"}`), "", ""},
		{jwt(`{"kubernetes.io":{"serviceaccount":"api"}}`), "", ""},
		{"not a token", "", ""},
	} {
		file := filepath.Join(dir, "token")
		if err := os.WriteFile(file, []byte(c.token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		owner := serviceAccountOwner(file)
		switch {
		case c.name == "" && owner != nil:
			t.Errorf("%s: owner %+v, want none", c.token, owner)
		case c.name != "" && (owner == nil || owner.Name != c.name || string(owner.UID) != c.uid || owner.Kind != "ServiceAccount"):
			t.Errorf("%s: owner %+v, want ServiceAccount %s %s", c.token, owner, c.name, c.uid)
		}
	}
	if serviceAccountOwner("") != nil || serviceAccountOwner(filepath.Join(dir, "none")) != nil {
		t.Error("an owner without a token")
	}
}

// The Secret is applied as a kubernetes.io/tls Secret owned by the
// service account when there is one, by the field manager; a Secret that
// does not exist reads as no backup, an API error as an error naming the
// Secret.
func TestSecretReadWrite(t *testing.T) {
	api := kubetest.Start(t)
	rc, err := restConfig(api.Kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	client, err := NewClient(rc)
	if err != nil {
		t.Fatal(err)
	}
	s := New(client, "sports", "api-identity", "sia-agent")
	defer s.Close()
	if k, c, err := s.Read(t.Context()); k != nil || c != nil || err != nil {
		t.Fatalf("no Secret: %q %q %v, want nothing", k, c, err)
	}
	s.owner = &metav1.OwnerReference{APIVersion: "v1", Kind: "ServiceAccount", Name: "api", UID: "1234"}
	if err := s.Write(t.Context(), []byte("key"), []byte("cert")); err != nil {
		t.Fatal(err)
	}
	sec := api.Secret(t, "sports", "api-identity")
	if sec == nil || sec.Type != corev1.SecretTypeTLS || len(sec.OwnerReferences) != 1 || sec.OwnerReferences[0].Name != "api" ||
		sec.OwnerReferences[0].UID != "1234" || sec.Labels["app.kubernetes.io/managed-by"] != "sia-agent" {
		t.Fatalf("Secret %+v", sec)
	}
	if len(sec.ManagedFields) == 0 || sec.ManagedFields[0].Manager != "sia-agent" || sec.ManagedFields[0].Operation != metav1.ManagedFieldsOperationApply {
		t.Errorf("managed fields %+v, want an apply by sia-agent", sec.ManagedFields)
	}
	if k, c, err := s.Read(t.Context()); string(k) != "key" || string(c) != "cert" || err != nil {
		t.Errorf("Read: %q %q %v", k, c, err)
	}
	api.Clientset.PrependReactor("get", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(corev1.Resource("secrets"), "api-identity", errors.New("RBAC"))
	})
	if _, _, err := s.Read(t.Context()); err == nil || !strings.Contains(err.Error(), "reading secret sports/api-identity") ||
		!apierrors.IsForbidden(err) {
		t.Errorf("forbidden: %v, want a 403 naming the Secret", err)
	}
}
