// Package configs holds the example pipelines, the systemd unit and the
// Kubernetes manifests; this test keeps them working: every pipeline passes
// `sia-agent validate` with every profile, every manifest decodes strictly
// into the Kubernetes API types and runs the agent as documented, and the
// systemd unit and the pods give the agent's ordered shutdown the time it
// needs.
package configs

import (
	"bytes"
	"cmp"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8syaml "sigs.k8s.io/yaml"

	"github.com/sia-agent/sia-agent/agent/pipeline"
	"github.com/sia-agent/sia-agent/internal/e2e"
	"github.com/sia-agent/sia-agent/plugins/builtin"
)

// root is a scratch copy of the repository's layout: the binaries
// (sia-agent, zts-dev) in root/bin, where the pipelines' plugin_dir (../bin) and the agent's own
// directory point, the test plugin in root/bin/test as `make build-test`
// puts it, and the pipelines under test in root/configs.
var root string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sia-configs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	err = e2e.Build(filepath.Join(dir, "bin"), "sia-agent", "zts-dev")
	if err == nil {
		err = e2e.Build(filepath.Join(dir, "bin", "test"), "sia-plugin-test")
	}
	if err == nil {
		err = os.Mkdir(filepath.Join(dir, "configs"), 0o755)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	root = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// siteEnv is what an operator sets for the production pipeline: the
// systemd unit's environment file, with a pod's values.
func siteEnv(t *testing.T) map[string]string {
	env := readEnvFile(t, "systemd/sia-agent.env")
	env["POD_UID"] = "7d2e4f1a-0b3c-4d5e-8f9a-0b1c2d3e4f5a"
	env["POD_IP"] = "10.1.2.3"
	env["SIA_DIR"] = t.TempDir()
	env["SIA_ATTESTATION_FILE"] = e2e.WriteFile(t, env["SIA_DIR"], "attestation", "token")
	return env
}

// Every pipeline of configs/ passes `sia-agent validate`, without a profile
// and with each of its own.
func TestPipelinesValidate(t *testing.T) {
	demoDir := t.TempDir()
	env := siteEnv(t)
	env["SIA_DEMO_DIR"] = demoDir
	env["ZTS_URL"] = "https://127.0.0.1:4443/zts/v1"
	env["ZTS_CA_FILE"] = e2e.WriteFile(t, demoDir, "ca.pem", "")
	e2e.WriteFile(t, demoDir, "attestation", "dev-attestation-secret\n")

	files, err := filepath.Glob("*.yaml")
	if err != nil || len(files) < 3 {
		t.Fatalf("want the demo, lifecycle and production pipelines, got %v (%v)", files, err)
	}
	for _, name := range files {
		file := copyPipeline(t, name, readFile(t, name))
		for _, profile := range append([]string{""}, profiles(t, file)...) {
			t.Run(name+"/"+cmp.Or(profile, "no profile"), func(t *testing.T) {
				t.Parallel()
				validate(t, file, profile, env)
			})
		}
	}
}

// The pipeline in the ConfigMap is configs/production.yaml, verbatim.
func TestConfigMapHoldsProductionPipeline(t *testing.T) {
	cm := configMap(t)
	if got, want := cm.Data["pipeline.yaml"], readFile(t, "production.yaml"); got != want {
		t.Errorf("configmap.yaml's pipeline.yaml differs from production.yaml; regenerate it")
	}
}

// Every manifest decodes strictly (no unknown or duplicate field) into the
// Kubernetes type its kind names.
func TestManifestsDecodeStrictly(t *testing.T) {
	files, err := filepath.Glob("k8s/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	kinds := 0
	for _, file := range files {
		for i, doc := range documents(t, file) {
			if _, err := decode(doc); err != nil {
				t.Errorf("%s, document %d: %v", file, i+1, err)
			}
			kinds++
		}
	}
	if kinds < 5 {
		t.Errorf("%d objects, want a ConfigMap, a ServiceAccount and two Deployments at least", kinds)
	}
}

// Each Deployment runs the agent as an init container in --mode init and
// as a sidecar with /healthz and /readyz probes, from the ConfigMap, with
// the pod's values from the downward API, a projected service account
// token, a shared emptyDir, a non-root read-only container, and a grace
// period above the pipeline's shutdown budget. The pipeline validates with
// the environment the manifest gives it.
func TestDeploymentsRunTheAgent(t *testing.T) {
	cm := configMap(t)
	files, _ := filepath.Glob("k8s/deployment-*.yaml")
	if len(files) != 2 {
		t.Fatalf("want the native and the classic sidecar Deployments, got %v", files)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			t.Parallel()
			var dep *appsv1.Deployment
			for _, doc := range documents(t, file) {
				obj, err := decode(doc)
				if err != nil {
					t.Fatal(err)
				}
				if d, ok := obj.(*appsv1.Deployment); ok {
					dep = d
				}
			}
			if dep == nil {
				t.Fatal("no Deployment")
			}
			checkPod(t, &dep.Spec.Template.Spec, cm, strings.Contains(file, "native"))
		})
	}
}

func checkPod(t *testing.T, pod *corev1.PodSpec, cm *corev1.ConfigMap, native bool) {
	var init, sidecar *corev1.Container
	for i := range pod.InitContainers {
		c := &pod.InitContainers[i]
		switch {
		case c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways:
			sidecar = c
		case slices.Contains(c.Args, "--mode"):
			init = c
		}
	}
	if !native {
		if sidecar != nil {
			t.Errorf("the classic Deployment has a native sidecar")
		}
		for i := range pod.Containers {
			if strings.HasPrefix(pod.Containers[i].Name, "sia-agent") {
				sidecar = &pod.Containers[i]
			}
		}
	}
	if init == nil || sidecar == nil {
		t.Fatalf("want an init container in --mode init and a sidecar; init %v, sidecar %v", init != nil, sidecar != nil)
	}
	if mode := argAfter(init.Args, "--mode"); mode != "init" {
		t.Errorf("init container: --mode %q, want init", mode)
	}
	if mode := argAfter(sidecar.Args, "--mode"); mode != "" && mode != "refresh" {
		t.Errorf("sidecar: --mode %q, want refresh", mode)
	}

	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Errorf("the pod may run as root: set securityContext.runAsNonRoot")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Errorf("the pod mounts a Kubernetes API token the agent does not need")
	}
	volumes := make(map[string]corev1.Volume)
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}

	for _, c := range []*corev1.Container{init, sidecar} {
		if len(c.Args) == 0 || c.Args[0] != "run" {
			t.Errorf("%s: args %q, want run ...", c.Name, c.Args)
		}
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
			sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("%s: want readOnlyRootFilesystem and no privilege escalation", c.Name)
		}
		env := containerEnv(t, pod, c)
		for name, field := range map[string]string{"POD_UID": "metadata.uid", "POD_IP": "status.podIP", "POD_NAMESPACE": "metadata.namespace"} {
			if !fromField(c, name, field) {
				t.Errorf("%s: %s does not come from the downward API's %s", c.Name, name, field)
			}
		}
		mounts := make(map[string]corev1.VolumeMount)
		for _, m := range c.VolumeMounts {
			mounts[m.MountPath] = m
		}
		mounted := func(dir string) (corev1.Volume, bool) {
			m, ok := mounts[dir]
			return volumes[m.Name], ok
		}
		config := argAfter(c.Args, "--config")
		if v, ok := mounted(filepath.Dir(config)); !ok || v.ConfigMap == nil || v.ConfigMap.Name != cm.Name {
			t.Errorf("%s: --config %s is not in the ConfigMap %s", c.Name, config, cm.Name)
		}
		if v, ok := mounted(env["SIA_DIR"]); !ok || v.EmptyDir == nil || mounts[env["SIA_DIR"]].ReadOnly {
			t.Errorf("%s: SIA_DIR %s is not a writable emptyDir", c.Name, env["SIA_DIR"])
		}
		if v, ok := mounted(filepath.Dir(env["SIA_ATTESTATION_FILE"])); !ok || v.Projected == nil ||
			len(v.Projected.Sources) != 1 || v.Projected.Sources[0].ServiceAccountToken == nil ||
			v.Projected.Sources[0].ServiceAccountToken.Path != filepath.Base(env["SIA_ATTESTATION_FILE"]) {
			t.Errorf("%s: SIA_ATTESTATION_FILE %s is not a projected service account token", c.Name, env["SIA_ATTESTATION_FILE"])
		}
		if v, ok := mounted("/tmp"); !ok || v.EmptyDir == nil {
			t.Errorf("%s: no writable /tmp for the plugin sockets on a read-only root file system", c.Name)
		}

		// The pipeline, as this container sees it.
		file := copyPipeline(t, c.Name+"-"+filepath.Base(config), cm.Data[filepath.Base(config)])
		profile := argAfter(c.Args, "--profile")
		validate(t, file, profile, env)
		if c != sidecar {
			continue
		}
		checkProbes(t, c, env)
		budget := shutdownBudget(t, file, profile, env)
		var grace time.Duration
		if pod.TerminationGracePeriodSeconds != nil {
			grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
		}
		if grace < budget+margin {
			t.Errorf("terminationGracePeriodSeconds %v: want at least the shutdown budget %v and %v to spare", grace, budget, margin)
		}
	}
}

// margin is the time a stop needs beyond the providers' shutdown: the
// processes exiting, the agent's own.
const margin = 5 * time.Second

func checkProbes(t *testing.T, c *corev1.Container, env map[string]string) {
	host, port, _ := strings.Cut(env["HEALTH_ADDRESS"], ":")
	// The kubelet probes the pod IP, which other pods reach too: /status,
	// with its recent log lines, must not be served there.
	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" && env["HEALTH_STATUS"] != "false" {
		t.Errorf("sidecar: the health provider listens on %q, which other pods reach, and serves /status there: set HEALTH_STATUS=false",
			env["HEALTH_ADDRESS"])
	}
	ports := make(map[string]string)
	for _, p := range c.Ports {
		ports[p.Name] = strconv.Itoa(int(p.ContainerPort))
	}
	for _, p := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{
		{"livenessProbe", c.LivenessProbe, "/healthz"},
		{"readinessProbe", c.ReadinessProbe, "/readyz"},
	} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("sidecar: no %s", p.what)
			continue
		}
		get := p.probe.HTTPGet
		if get.Path != p.path {
			t.Errorf("sidecar: %s on %s, want %s", p.what, get.Path, p.path)
		}
		if got := get.Port.String(); got != port && ports[got] != port {
			t.Errorf("sidecar: %s on port %s, but the health provider listens on %q (HEALTH_ADDRESS)", p.what, got, env["HEALTH_ADDRESS"])
		}
	}
}

// The systemd unit stops the agent alone (KillMode=mixed) and waits longer
// than the pipeline's shutdown budget; it restarts on failure, is hardened,
// and its pipeline validates with its environment.
func TestSystemdUnit(t *testing.T) {
	unit := readUnit(t, "systemd/sia-agent.service")
	for key, want := range map[string]string{
		"Service.KillMode":        "mixed",
		"Service.Restart":         "on-failure",
		"Service.NoNewPrivileges": "yes",
		"Service.ProtectSystem":   "strict",
		"Service.PrivateTmp":      "yes",
		"Service.Type":            "notify",
		"Service.NotifyAccess":    "main",
		"Service.ExecReload":      "/bin/kill -HUP $MAINPID",
	} {
		if got := unit[key]; len(got) != 1 || got[0] != want {
			t.Errorf("%s=%q, want %s", key, got, want)
		}
	}

	// The unit's environment: its file (the example), then Environment=.
	env := readEnvFile(t, "systemd/sia-agent.env")
	for _, kv := range unit["Service.Environment"] {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = strings.ReplaceAll(v, "%m", "4b8a1f2e9c3d4e5f8a7b6c5d4e3f2a1b")
	}
	// The packages create the sia-agent group (sysusers.d); this host has
	// none.
	if env["SIA_GROUP"] != "sia-agent" || env["SIA_TOKEN_MODE"] != "0640" {
		t.Errorf("SIA_GROUP=%q, SIA_TOKEN_MODE=%q: want the sia-agent group to read the credentials, as the unit says", env["SIA_GROUP"], env["SIA_TOKEN_MODE"])
	}
	env["SIA_GROUP"] = "0"
	// A crash (a Go panic or SIGQUIT exits 2) is restarted; a usage (64) or
	// configuration (78) error, which a restart cannot fix, is not.
	if got := strings.Fields(strings.Join(unit["Service.RestartPreventExitStatus"], " ")); !slices.Equal(got, []string{"64", "78"}) {
		t.Errorf("RestartPreventExitStatus=%q, want 64 78 (and never 2, a crash)", got)
	}

	if dir := env["SIA_DIR"]; !slices.Contains(strings.Fields(strings.Join(unit["Service.ReadWritePaths"], " ")), dir) {
		t.Errorf("ReadWritePaths %q does not hold SIA_DIR %s", unit["Service.ReadWritePaths"], dir)
	}

	// ExecStart runs configs/production.yaml, installed at --config.
	exec := strings.Fields(strings.Join(unit["Service.ExecStart"], " "))
	if len(exec) < 2 || exec[1] != "run" || argAfter(exec, "--config") != "/etc/sia-agent/pipeline.yaml" {
		t.Fatalf("ExecStart %q: want sia-agent run --config /etc/sia-agent/pipeline.yaml", exec)
	}
	profile := argAfter(exec, "--profile")
	file := copyPipeline(t, "systemd-pipeline.yaml", readFile(t, "production.yaml"))
	validate(t, file, profile, env)
	budget := shutdownBudget(t, file, profile, env)
	stop := unit["Service.TimeoutStopSec"]
	if len(stop) != 1 {
		t.Fatalf("TimeoutStopSec=%q: set it, above the shutdown budget %v", stop, budget)
	}
	if d := systemdDuration(t, stop[0]); d < budget+margin {
		t.Errorf("TimeoutStopSec=%s: want at least the shutdown budget %v and %v to spare", stop[0], budget, margin)
	}
}

// validate runs `sia-agent validate` on file with env and wants it valid.
func validate(t *testing.T, file, profile string, env map[string]string) {
	t.Helper()
	args := []string{"validate", "--config", file}
	if profile != "" {
		args = append(args, "--profile", profile)
	}
	var vars []string
	for k, v := range env {
		vars = append(vars, k+"="+v)
	}
	p := e2e.Start(t, filepath.Join(root, "bin", "sia-agent"), vars, args...)
	if code := p.Exit(t, time.Minute); code != 0 || p.Log.Index("is valid") < 0 {
		t.Errorf("sia-agent %s: exit code %d\n%s", strings.Join(args, " "), code, e2e.Indented(p.Log.Lines()))
	}
}

// shutdownBudget is the longest the agent's shutdown can take with the
// pipeline: its enabled providers' shutdown timeouts added up.
func shutdownBudget(t *testing.T, file, profile string, env map[string]string) time.Duration {
	t.Helper()
	p, err := pipeline.Load(file, pipeline.Options{
		Profile:          profile,
		DefaultPluginDir: filepath.Join(root, "bin"),
		Builtins:         builtin.Names(),
		Lookup:           func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	if err != nil {
		t.Fatal(err)
	}
	var budget time.Duration
	for _, pr := range p.Enabled() {
		budget += pr.ShutdownTimeout
	}
	return budget
}

// copyPipeline writes text into root/configs, where a plugin_dir of
// ../bin finds the built plugins.
func copyPipeline(t *testing.T, name, text string) string {
	t.Helper()
	return e2e.WriteFile(t, filepath.Join(root, "configs"), name, text)
}

// profiles lists the profiles a pipeline file defines.
func profiles(t *testing.T, file string) []string {
	var doc struct {
		Profiles map[string]yaml.Node `yaml:"profiles"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, file)), &doc); err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range doc.Profiles {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

// documents splits a manifest file into its YAML documents.
func documents(t *testing.T, file string) [][]byte {
	var docs [][]byte
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(readFile(t, file), -1) {
		if strings.TrimSpace(stripComments(doc)) != "" {
			docs = append(docs, []byte(doc))
		}
	}
	return docs
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, line := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}

// decode decodes a manifest strictly into the type of its kind.
func decode(doc []byte) (any, error) {
	var tm metav1.TypeMeta
	if err := k8syaml.Unmarshal(doc, &tm); err != nil {
		return nil, err
	}
	var obj any
	switch gvk := tm.APIVersion + " " + tm.Kind; gvk {
	case "v1 ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1 ServiceAccount":
		obj = &corev1.ServiceAccount{}
	case "apps/v1 Deployment":
		obj = &appsv1.Deployment{}
	case "monitoring.coreos.com/v1 PodMonitor":
		obj = &podMonitor{}
	default:
		return nil, fmt.Errorf("unexpected object %q", gvk)
	}
	if err := k8syaml.UnmarshalStrict(doc, obj); err != nil {
		return nil, fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
	}
	return obj, nil
}

// podMonitor is the part of the Prometheus Operator's PodMonitor the
// manifests use.
type podMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector            metav1.LabelSelector `json:"selector"`
		PodMetricsEndpoints []struct {
			Port     string `json:"port"`
			Path     string `json:"path"`
			Interval string `json:"interval"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// The PodMonitor scrapes /metrics on the sidecar's metrics port in the
// pods of both Deployments, as their prometheus.io annotations say.
func TestPodMonitorScrapesTheSidecar(t *testing.T) {
	var pm *podMonitor
	for _, doc := range documents(t, "k8s/podmonitor.yaml") {
		obj, err := decode(doc)
		if err != nil {
			t.Fatal(err)
		}
		pm, _ = obj.(*podMonitor)
	}
	if pm == nil || len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("want a PodMonitor with one endpoint, got %+v", pm)
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	files, _ := filepath.Glob("k8s/deployment-*.yaml")
	for _, file := range files {
		for _, doc := range documents(t, file) {
			obj, _ := decode(doc)
			dep, ok := obj.(*appsv1.Deployment)
			if !ok {
				continue
			}
			tmpl := dep.Spec.Template
			for k, v := range pm.Spec.Selector.MatchLabels {
				if tmpl.Labels[k] != v {
					t.Errorf("%s: the PodMonitor selects %s=%s, the pods are labelled %v", file, k, v, tmpl.Labels)
				}
			}
			var port int32
			for _, c := range append(tmpl.Spec.InitContainers, tmpl.Spec.Containers...) {
				for _, p := range c.Ports {
					if p.Name == ep.Port {
						port = p.ContainerPort
					}
				}
			}
			if port == 0 || tmpl.Annotations["prometheus.io/port"] != strconv.Itoa(int(port)) || ep.Path != "/metrics" {
				t.Errorf("%s: the PodMonitor scrapes %s%s (port %d), the annotations say port %s", file, ep.Port, ep.Path, port,
					tmpl.Annotations["prometheus.io/port"])
			}
		}
	}
}

func configMap(t *testing.T) *corev1.ConfigMap {
	t.Helper()
	docs := documents(t, "k8s/configmap.yaml")
	if len(docs) != 1 {
		t.Fatalf("configmap.yaml: %d documents, want 1", len(docs))
	}
	obj, err := decode(docs[0])
	if err != nil {
		t.Fatal(err)
	}
	cm, ok := obj.(*corev1.ConfigMap)
	if !ok {
		t.Fatalf("configmap.yaml holds a %T", obj)
	}
	return cm
}

// containerEnv resolves a container's environment as the kubelet would,
// with made-up pod values for the downward API.
func containerEnv(t *testing.T, pod *corev1.PodSpec, c *corev1.Container) map[string]string {
	fields := map[string]string{
		"metadata.uid":            "7d2e4f1a-0b3c-4d5e-8f9a-0b1c2d3e4f5a",
		"metadata.name":           "api-7f9c8d6b5-x2k4p",
		"metadata.namespace":      "sports",
		"status.podIP":            "10.1.2.3",
		"spec.serviceAccountName": pod.ServiceAccountName,
	}
	env := make(map[string]string)
	dependent := regexp.MustCompile(`\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = dependent.ReplaceAllStringFunc(e.Value, func(m string) string {
				if m == "$$" {
					return "$"
				}
				if v, ok := env[m[2:len(m)-1]]; ok {
					return v
				}
				return m
			})
		case e.ValueFrom.FieldRef != nil:
			v, ok := fields[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				t.Errorf("%s: %s: unexpected fieldPath %s", c.Name, e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			env[e.Name] = v
		default:
			t.Errorf("%s: %s: only values and fieldRefs are resolved here", c.Name, e.Name)
		}
	}
	return env
}

func fromField(c *corev1.Container, name, field string) bool {
	for _, e := range c.Env {
		if e.Name == name {
			return e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == field
		}
	}
	return false
}

// argAfter returns the argument after flag, or "".
func argAfter(args []string, flag string) string {
	if i := slices.Index(args, flag); i >= 0 && i+1 < len(args) {
		return args[i+1]
	}
	return ""
}

// readUnit reads a systemd unit into "Section.Key" → values.
func readUnit(t *testing.T, file string) map[string][]string {
	unit := make(map[string][]string)
	section := ""
	for i, line := range strings.Split(readFile(t, file), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s:%d: not a key=value line in a section: %q", file, i+1, line)
			}
			unit[section+"."+strings.TrimSpace(k)] = append(unit[section+"."+strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return unit
}

// systemdDuration parses a systemd time span such as 60, 60s or 1min 30s.
func systemdDuration(t *testing.T, s string) time.Duration {
	if n, err := strconv.Atoi(s); err == nil {
		return time.Duration(n) * time.Second
	}
	d, err := time.ParseDuration(strings.NewReplacer(" ", "", "min", "m").Replace(s))
	if err != nil {
		t.Fatalf("time span %q: %v", s, err)
	}
	return d
}

// readEnvFile reads KEY=VALUE lines.
func readEnvFile(t *testing.T, file string) map[string]string {
	env := make(map[string]string)
	for _, line := range strings.Split(readFile(t, file), "\n") {
		if line = strings.TrimSpace(line); line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("%s: not KEY=VALUE: %q", file, line)
		}
		env[k] = v
	}
	return env
}

func readFile(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")))
}
