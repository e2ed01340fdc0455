package siaenv

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
