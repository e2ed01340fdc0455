// Command sia-plugin-k8s-secret is the k8s-secret provider: a backup of
// the identity in a Kubernetes Secret (docs/k8s-secret.md). It is a
// plugin binary of its own because it links Kubernetes' client-go, which
// the one sia-agent executable does not.
package main

import (
	"github.com/sia-agent/sia-agent/plugins/k8ssecret"
	"github.com/sia-agent/sia-agent/plugins/k8ssecret/kube"
	"github.com/sia-agent/sia-agent/sdk"
)

// main prints nothing before Serve: the agent reads the plugin handshake
// from standard output.
func main() { sdk.Serve(&k8ssecret.Provider{Connect: kube.Connect}) }
