package k8ssecret_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/sia-agent/sia-agent/internal/kubetest"

	"github.com/sia-agent/sia-agent/plugins/k8ssecret"
	"github.com/sia-agent/sia-agent/plugins/k8ssecret/kube"
	"github.com/sia-agent/sia-agent/sdk"
	"github.com/sia-agent/sia-agent/sdk/sdktest"
)

// The provider is tested in-process, with the Secret it runs with
// (kube.Connect, client-go's REST client) reaching a test API server whose
// objects client-go's fake clientset keeps and applies server-side
// (internal/kubetest); the e2e tests run the plugin binary.

const ns, secretName = "sports", "api-identity"

// newIdentity returns a key and a certificate for CN that expires at
// notAfter, as PEM.
func newIdentity(t *testing.T, cn string, notAfter time.Time) (keyPEM, certPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    notAfter.Add(-48 * time.Hour),
		NotAfter:     notAfter,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

type fixture struct {
	dir, keyFile, certFile string
	api                    *kubetest.API
	client                 *fake.Clientset // the API's objects
}

func newFixture(t *testing.T, objects ...runtime.Object) *fixture {
	dir := t.TempDir()
	api := kubetest.Start(t)
	for _, o := range objects {
		if err := api.Clientset.Tracker().Add(o); err != nil {
			t.Fatal(err)
		}
	}
	return &fixture{
		dir: dir, keyFile: filepath.Join(dir, "athenz", "service.key.pem"), certFile: filepath.Join(dir, "athenz", "service.cert.pem"),
		api: api, client: api.Clientset,
	}
}

func (f *fixture) config(mode string) string {
	return fmt.Sprintf("secret: %s\nnamespace: %s\nmode: %s\nkey_file: %s\ncert_file: %s\nkubeconfig: %s\ninterval: 10ms\nretry_max: 20ms\n",
		secretName, ns, mode, f.keyFile, f.certFile, f.api.Kubeconfig)
}

// writeFiles writes an identity as the cert provider does.
func (f *fixture) writeFiles(t *testing.T, keyPEM, certPEM []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(f.keyFile), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := sdk.WriteFileAtomic(f.keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := sdk.WriteFileAtomic(f.certFile, certPEM, 0o644); err != nil {
		t.Fatal(err)
	}
}

func (f *fixture) secret(t *testing.T) *corev1.Secret {
	t.Helper()
	s, err := f.client.CoreV1().Secrets(ns).Get(t.Context(), secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("the Secret: %v", err)
	}
	return s
}

func backup(keyPEM, certPEM []byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: secretName, Namespace: ns},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSPrivateKeyKey: keyPEM, corev1.TLSCertKey: certPEM},
	}
}

func (f *fixture) harness(t *testing.T, mode string) (*sdktest.Harness, *k8ssecret.Provider) {
	t.Helper()
	p := &k8ssecret.Provider{Connect: kube.Connect}
	return sdktest.New(t, p, "backup", f.config(mode)), p
}

// Every identity the cert provider writes is applied to the Secret, a
// kubernetes.io/tls Secret the agent manages, and reported.
func TestWriteBacksUpEveryNewIdentity(t *testing.T) {
	f := newFixture(t)
	h, _ := f.harness(t, "write")
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	for i, notAfter := range []time.Time{time.Now().Add(24 * time.Hour), time.Now().Add(48 * time.Hour)} {
		keyPEM, certPEM := newIdentity(t, "sports.api", notAfter)
		f.writeFiles(t, keyPEM, certPEM)
		rec := h.Host.WaitRecord(t, 10*time.Second, func(r sdk.StatusRecord) bool {
			return r.Credential == "secret/sports/api-identity" && r.Err == nil && r.Expiry.Equal(notAfter.Truncate(time.Second))
		})
		if !rec.Optional || rec.Kind != "k8s-secret" {
			t.Errorf("identity %d: record %+v, want an optional k8s-secret record", i, rec)
		}
		s := f.secret(t)
		if s.Type != corev1.SecretTypeTLS || string(s.Data[corev1.TLSCertKey]) != string(certPEM) ||
			string(s.Data[corev1.TLSPrivateKeyKey]) != string(keyPEM) {
			t.Fatalf("identity %d: the Secret holds %s %q, want the files", i, s.Type, s.Data[corev1.TLSCertKey])
		}
		if s.Labels["app.kubernetes.io/managed-by"] != "sia-agent" {
			t.Errorf("labels %v", s.Labels)
		}
	}
}

// A write that fails is retried until it succeeds, and the failure shows
// in the status report.
func TestFailedWriteIsRetried(t *testing.T) {
	f := newFixture(t)
	fails := 2
	f.client.PrependReactor("patch", "secrets", func(k8stesting.Action) (bool, runtime.Object, error) {
		if fails > 0 {
			fails--
			return true, nil, apierrors.NewServiceUnavailable("the API server is busy")
		}
		return false, nil, nil
	})
	keyPEM, certPEM := newIdentity(t, "sports.api", time.Now().Add(time.Hour))
	f.writeFiles(t, keyPEM, certPEM)
	h, _ := f.harness(t, "write")
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	h.Host.WaitRecord(t, 10*time.Second, func(r sdk.StatusRecord) bool {
		return r.Err != nil && strings.Contains(r.Err.Error(), "the API server is busy")
	})
	h.Host.WaitRecord(t, 10*time.Second, func(r sdk.StatusRecord) bool { return r.Err == nil })
	if s := f.secret(t); string(s.Data[corev1.TLSCertKey]) != string(certPEM) {
		t.Errorf("the Secret holds %q", s.Data[corev1.TLSCertKey])
	}
}

// In init mode the identity the cert provider's Init wrote after this
// provider's is backed up at Shutdown.
func TestInitModeBacksUpAtShutdown(t *testing.T) {
	f := newFixture(t)
	h, _ := f.harness(t, "read+write")
	h.Runtime.Mode = sdk.ModeInit
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	keyPEM, certPEM := newIdentity(t, "sports.api", time.Now().Add(time.Hour))
	f.writeFiles(t, keyPEM, certPEM)
	if err := h.Shutdown(); err != nil {
		t.Fatal(err)
	}
	if s := f.secret(t); string(s.Data[corev1.TLSCertKey]) != string(certPEM) {
		t.Errorf("the Secret holds %q after Shutdown", s.Data[corev1.TLSCertKey])
	}
}

// With read, missing identity files are restored from the Secret (the key
// private to the agent's user), and what was restored is not written back.
func TestReadRestoresAMissingIdentity(t *testing.T) {
	keyPEM, certPEM := newIdentity(t, "sports.api", time.Now().Add(time.Hour))
	f := newFixture(t, backup(keyPEM, certPEM))
	h, _ := f.harness(t, "read+write")
	if err := h.Init(); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string][]byte{f.keyFile: keyPEM, f.certFile: certPEM} {
		if got, err := os.ReadFile(path); err != nil || string(got) != string(want) {
			t.Errorf("%s: %v, want the backup's", path, err)
		}
	}
	if fi, err := os.Stat(f.keyFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("key file: %v %v, want 0600", fi.Mode(), err)
	}
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	if err := h.Shutdown(); err != nil {
		t.Fatal(err)
	}
	for _, a := range f.client.Actions() {
		if a.GetVerb() == "patch" {
			t.Errorf("the restored identity was written back: %s %s", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

// An identity on disk that has not expired is kept; a backup that is
// missing, expired or not a pair restores nothing, and Init goes on.
func TestReadRestoresOnlyWhatIsGoodAndNeeded(t *testing.T) {
	keyPEM, certPEM := newIdentity(t, "sports.api", time.Now().Add(time.Hour))
	oldKey, oldCert := newIdentity(t, "sports.api", time.Now().Add(-time.Minute))
	otherKey, _ := newIdentity(t, "sports.api", time.Now().Add(time.Hour))
	diskKey, diskCert := newIdentity(t, "sports.api", time.Now().Add(time.Hour))
	cases := []struct {
		name    string
		objects []runtime.Object
		onDisk  [2][]byte
		want    []byte // the certificate file afterwards; nil: none
	}{
		{"valid identity on disk", []runtime.Object{backup(keyPEM, certPEM)}, [2][]byte{diskKey, diskCert}, diskCert},
		{"no Secret", nil, [2][]byte{}, nil},
		{"expired backup", []runtime.Object{backup(oldKey, oldCert)}, [2][]byte{}, nil},
		{"key of another certificate", []runtime.Object{backup(otherKey, certPEM)}, [2][]byte{}, nil},
		{"expired identity on disk", []runtime.Object{backup(keyPEM, certPEM)}, [2][]byte{oldKey, oldCert}, certPEM},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, c.objects...)
			if c.onDisk[0] != nil {
				f.writeFiles(t, c.onDisk[0], c.onDisk[1])
			}
			h, _ := f.harness(t, "read")
			if err := h.Init(); err != nil {
				t.Fatalf("Init: %v", err)
			}
			got, err := os.ReadFile(f.certFile)
			switch {
			case c.want == nil && !errors.Is(err, os.ErrNotExist):
				t.Errorf("certificate file %q (%v), want none", got, err)
			case c.want != nil && string(got) != string(c.want):
				t.Errorf("certificate file %q (%v), want %q", got, err, c.want)
			}
		})
	}
}

// A restore that cannot write the files fails Init, naming the file.
func TestRestoreThatCannotWriteFailsInit(t *testing.T) {
	keyPEM, certPEM := newIdentity(t, "sports.api", time.Now().Add(time.Hour))
	f := newFixture(t, backup(keyPEM, certPEM))
	if err := os.WriteFile(filepath.Join(f.dir, "athenz"), nil, 0o600); err != nil { // a file where the directory goes
		t.Fatal(err)
	}
	h, _ := f.harness(t, "read")
	if err := h.Init(); err == nil || !strings.Contains(err.Error(), "restoring the identity") {
		t.Fatalf("Init: %v, want an error restoring the identity", err)
	}
}

func TestConfigProblemsNameTheKey(t *testing.T) {
	cfg, err := sdk.ParseConfig("p.yaml", "secret: Not_A_Name\nmode: backup\ninterval: 0s\n")
	if err != nil {
		t.Fatal(err)
	}
	err = (&k8ssecret.Provider{}).Validate(t.Context(), cfg)
	for _, want := range []string{
		`p.yaml:1: secret: "Not_A_Name" is not a Kubernetes name`,
		`p.yaml:2: mode: "backup" is not a mode: want read, write or read+write`,
		`p.yaml:3: interval: must be positive`,
		`key_file: key_file and cert_file are required`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}
