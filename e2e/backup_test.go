package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sia-agent/sia-agent/internal/kubetest"
)

// backupPipeline is the k8s-secret provider (the plugin binary) before the
// cert provider, for pod instance in dir, reaching api.
func backupPipeline(t *testing.T, env *certEnv, api *kubetest.API, dir, instance, mode string) string {
	t.Helper()
	certCfg := strings.Replace(env.certConfig("[]", "retry_initial: 100ms\nretry_max: 200ms\n"), "instance_id: pod-1", "instance_id: "+instance, 1)
	certCfg = strings.Replace(certCfg, "dir: "+env.dir, "dir: "+dir, 1)
	backup := fmt.Sprintf("secret: sia-identity\nnamespace: sia\nmode: %s\nkey_file: %s\ncert_file: %s\nkubeconfig: %s\ninterval: 100ms\n",
		mode, filepath.Join(dir, "service.key.pem"), filepath.Join(dir, "service.cert.pem"), api.Kubeconfig)
	text := "providers:\n  - name: backup\n    plugin: sia-plugin-k8s-secret\n    config:\n" + indent(backup, "      ") +
		"  - name: certificate\n    plugin: cert\n    config:\n" + indent(certCfg, "      ")
	return pipeline(t, text)
}

// One pod backs up its identity in the Secret; the next pod, started
// while ZTS is down, restores it and has an identity for its peers, which
// it does not write back. k8s-athenz-sia's BACKUP=read+write.
func TestBackupCarriesTheIdentityOverAZTSOutage(t *testing.T) {
	t.Parallel()
	env := newCertEnv(t)
	api := kubetest.Start(t)

	dirA := filepath.Join(t.TempDir(), "a")
	a := runAgent(t, backupPipeline(t, env, api, dirA, "pod-1", "read+write"), nil)
	a.WaitLog(t, "sia-agent.backup: No identity to restore from the backup", waitLine)
	a.WaitLog(t, certLine("Updated identity certificate"), waitLine)
	certA, err := os.ReadFile(filepath.Join(dirA, "service.cert.pem"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case s := <-api.Applied():
		if string(s.Data["tls.crt"]) != string(certA) || s.Type != "kubernetes.io/tls" || len(s.Data["tls.key"]) == 0 ||
			s.ManagedFields[0].Manager != "sia-agent" {
			t.Fatalf("applied %s %q by %v, want pod A's identity", s.Type, s.Data["tls.crt"], s.ManagedFields)
		}
	case <-time.After(waitLine):
		t.Fatalf("no backup within %v\n%s", waitLine, a.Log.String())
	}
	a.WaitLog(t, "sia-agent.backup: Backed up the identity", waitLine)
	if code := stop(t, a); code != 0 {
		t.Fatalf("pod A: exit code %d\n%s", code, a.Log.String())
	}
	if strings.Contains(a.Log.String(), "BEGIN") {
		t.Error("the log holds PEM")
	}

	reconfigure(t, env.zts, ztsDown())
	applies := api.Applies()
	dirB := filepath.Join(t.TempDir(), "b")
	b := runAgent(t, backupPipeline(t, env, api, dirB, "pod-2", "read+write"), nil)
	b.WaitLog(t, "sia-agent.backup: Restored the identity from the backup", waitLine)
	b.WaitLog(t, certLine("The identity certificate on disk is not this instance's; registering"), waitLine)
	b.WaitLog(t, "All 2 providers started", waitLine)
	certB, err := os.ReadFile(filepath.Join(dirB, "service.cert.pem"))
	if err != nil || string(certB) != string(certA) {
		t.Errorf("pod B's certificate file: %v, want pod A's identity", err)
	}
	if fi, err := os.Stat(filepath.Join(dirB, "service.key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("pod B's key file: %v %v, want 0600", fi, err)
	}
	if code := stop(t, b); code != 0 {
		t.Fatalf("pod B: exit code %d\n%s", code, b.Log.String())
	}
	if n := api.Applies(); n != applies {
		t.Errorf("pod B applied the Secret %d times: the restored identity was written back", n-applies)
	}
}
