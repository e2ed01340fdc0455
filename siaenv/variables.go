package siaenv

import (
	"regexp"
	"strings"
	"sync"
)

// Variables returns the names of k8s-athenz-sia's 54 environment variables
// (v3.6.0, pkg/config), in the order of its documentation.
func Variables() []string {
	return []string{
		// Mode.
		"MODE", "DELAY_JITTER_SECONDS",
		// Identity certificate.
		"ENDPOINT", "PROVIDER_SERVICE", "KEY_FILE", "CERT_FILE", "CA_CERT_FILE", "SERVER_CA_CERT",
		"DNS_SUFFIX", "CERT_EXTRA_SAN_DNS", "CERT_SUBJECT", "REFRESH_INTERVAL",
		"NAMESPACE", "ATHENZ_DOMAIN", "ATHENZ_PREFIX", "ATHENZ_SUFFIX", "SERVICEACCOUNT", "SA_TOKEN_FILE",
		"POD_IP", "POD_UID", "POD_NAME", "DELETE_INSTANCE_ID", "INTERMEDIATE_CERT_BUNDLE",
		// Role certificates.
		"TARGET_DOMAIN_ROLES", "ROLECERT_DIR", "ROLE_CERT_NAMING_FORMAT", "ROLE_CERT_FILENAME_DELIMITER",
		"ROLE_CERT_KEY_FILE_OUTPUT", "ROLE_CERT_KEY_NAMING_FORMAT",
		// Tokens.
		"TOKEN_TYPE", "TOKEN_REFRESH_INTERVAL", "TOKEN_EXPIRY", "TOKEN_DIR",
		"ACCESS_TOKEN_NAMING_FORMAT", "ROLE_TOKEN_NAMING_FORMAT",
		"ACCESS_TOKEN_FILENAME_DELIMITER", "ROLE_TOKEN_FILENAME_DELIMITER",
		// Token server.
		"TOKEN_SERVER_ADDR", "TOKEN_SERVER_REST_API", "USE_TOKEN_SERVER", "ROLE_AUTH_HEADER",
		"TOKEN_SERVER_TIMEOUT", "TOKEN_SERVER_TLS_CERT_PATH", "TOKEN_SERVER_TLS_KEY_PATH",
		"TOKEN_SERVER_TLS_CA_PATH", "SHUTDOWN_DELAY", "SHUTDOWN_TIMEOUT",
		// Metrics, health, logging, backup.
		"METRICS_SERVER_ADDR", "HEALTH_CHECK_ADDR", "HEALTH_CHECK_ENDPOINT",
		"LOG_DIR", "LOG_LEVEL", "BACKUP", "CERT_SECRET",
	}
}

// isPodVariable reports a variable that the downward API sets per pod. The
// pipeline refers to it as ${VAR} instead of copying its value, so that one
// pipeline serves every pod of the deployment.
func isPodVariable(name string) bool {
	switch name {
	case "NAMESPACE", "SERVICEACCOUNT", "POD_IP", "POD_UID", "POD_NAME":
		return true
	}
	return false
}

// describesPod reports a variable that is not k8s-athenz-sia's but
// describes the pod or the container: what the downward API, Kubernetes'
// service links and the image set, and what `kubectl exec … env` prints
// beside the agent's settings. It is never taken for a misspelt variable
// (POD_IPS is not a typo of POD_IP), so that such an env file converts.
func describesPod(name string) bool {
	switch name {
	case "PATH", "HOME", "HOSTNAME", "TERM", "PWD", "OLDPWD", "SHLVL", "USER", "LOGNAME", "SHELL", "LANG", "TZ",
		"NODE_NAME", "NODE_IP", "HOST_IP", "HOSTIP":
		return true
	}
	for _, prefix := range []string{"POD_", "KUBERNETES_", "LC_"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return serviceLinkRE().MatchString(name)
}

// serviceLinkRE matches the variables Kubernetes sets for every service
// of the namespace: <SVC>_SERVICE_HOST, <SVC>_SERVICE_PORT[_<NAME>],
// <SVC>_PORT and <SVC>_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR].
var serviceLinkRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[A-Z0-9_]+_(SERVICE_HOST|SERVICE_PORT(_[A-Z0-9_]+)?|PORT|PORT_[0-9]+_(TCP|UDP|SCTP)(_PROTO|_PORT|_ADDR)?)$`)
})
