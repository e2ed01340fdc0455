package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Every process of the agent runs this executable, so every package
// linked into it initialises in each of them. Kubernetes' client-go
// costs half a megabyte of allocations at start alone: the k8s-secret
// provider, which needs it, is a plugin binary of its own
// (cmd/sia-plugin-k8s-secret), and nothing may bring it in here.
func TestExecutableLinksNoKubernetesClient(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "grpcnotrace", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "k8s.io/") || strings.HasPrefix(pkg, "sigs.k8s.io/") {
			t.Errorf("sia-agent links %s", pkg)
		}
	}
}
