package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sia-agent/sia-agent/internal/e2e"
)

// The environments of four typical k8s-athenz-sia sidecars
// (siaenv/testdata/run*.env) and of a typical init container convert to pipelines that `sia-agent validate`
// accepts, with the pod's variables the pipelines refer to.
func TestConvertedPipelinesValidate(t *testing.T) {
	t.Parallel()
	root, err := e2e.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, err := filepath.Glob(filepath.Join(root, "siaenv", "testdata", "*.env"))
	if err != nil || len(files) < 5 {
		t.Fatalf("want the k8s-athenz-sia environments of siaenv/testdata, got %v (%v)", files, err)
	}
	for _, envFile := range files {
		t.Run(filepath.Base(envFile), func(t *testing.T) {
			t.Parallel()
			// LOG_DIR and friends have no equivalent: without
			// --allow-unsupported nothing is converted.
			stdout, stderr, code := convert(t, "--env-file", envFile)
			unsupported := strings.Contains(stderr, "unsupported: ")
			switch {
			case unsupported && (code != exitConfig || stdout != ""):
				t.Fatalf("unsupported variables: exit code %d, want %d and no pipeline\n%s", code, exitConfig, stderr)
			case !unsupported && code != 0:
				t.Fatalf("exit code %d\n%s", code, stderr)
			}
			stdout, stderr, code = convert(t, "--env-file", envFile, "--allow-unsupported")
			if code != 0 {
				t.Fatalf("--allow-unsupported: exit code %d\n%s", code, stderr)
			}
			t.Logf("notes:\n%s", stderr)
			file := e2e.WriteFile(t, t.TempDir(), "pipeline.yaml", stdout)

			// The pod's values come from its environment, as before.
			var env []string
			for _, line := range strings.Split(readEnv(t, envFile), "\n") {
				for _, v := range []string{"NAMESPACE=", "SERVICEACCOUNT=", "POD_IP=", "POD_UID=", "POD_NAME="} {
					if strings.HasPrefix(line, v) {
						env = append(env, line)
					}
				}
			}
			p := e2e.Start(t, filepath.Join(bins, "sia-agent"), env, "validate", "--config", file)
			if code := p.Exit(t, waitExit); code != 0 {
				t.Errorf("validate: exit code %d\n%s\npipeline:\n%s", code, p.Log.String(), stdout)
			}
		})
	}
}

// convert runs `sia-agent convert` and returns its standard output and
// error apart.
func convert(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bins, "sia-agent"), append([]string{"convert"}, args...)...)
	cmd.Env = append(os.Environ(), "GORACE=atexit_sleep_ms=0 halt_on_error=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exitErr):
		code = exitErr.ExitCode()
	default:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), code
}

func readEnv(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// What `kubectl exec … env` prints of a k8s-athenz-sia sidecar holds what
// describes the pod and the container beside the agent's settings
// (POD_IPS, POD_NAMESPACE, HOSTNAME, KUBERNETES_*, service links, PATH,
// HOME): each is noted as ignored, none is a blocker, even one that looks
// like a misspelt variable (POD_IPS and POD_IP).
func TestConvertKubectlExecEnv(t *testing.T) {
	t.Parallel()
	root, err := e2e.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := convert(t, "--env-file", filepath.Join(root, "siaenv", "testdata", "kubectl-exec.env"))
	if code != 0 || stdout == "" {
		t.Fatalf("exit code %d, pipeline of %d bytes; want 0 and a pipeline\n%s", code, len(stdout), stderr)
	}
	for _, v := range []string{"POD_IPS", "POD_NAMESPACE", "HOSTNAME", "KUBERNETES_PORT_443_TCP_ADDR", "API_SERVICE_HOST", "PATH"} {
		if !strings.Contains(stderr, "note: "+v+": ") {
			t.Errorf("no note on %s\n%s", v, stderr)
		}
	}
}
