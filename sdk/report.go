package sdk

// StatusReport is the agent's status report: the status file, the health
// provider's /status body, and what /readyz decides from: one entry per
// provider and the latest record of each credential.
type StatusReport struct {
	AgentVersion string             `json:"agent_version"`
	StartedTS    int64              `json:"started_ts"`
	UpdatedTS    int64              `json:"updated_ts"`
	Mode         string             `json:"mode"`
	Profile      string             `json:"profile,omitempty"`
	Phase        string             `json:"phase"` // loading, init, start, running, shutdown
	Ready        bool               `json:"ready"`
	NotReady     []NotReady         `json:"not_ready,omitempty"`
	Providers    []ProviderStatus   `json:"providers"`
	Credentials  []CredentialStatus `json:"credentials"`
}

// NotReady says why a provider keeps the agent from being ready.
type NotReady struct {
	Provider   string `json:"provider,omitempty"` // empty for the agent itself
	Credential string `json:"credential,omitempty"`
	Reason     string `json:"reason"`
}

// ProviderStatus is where one provider is in the lifecycle.
type ProviderStatus struct {
	Name    string   `json:"name"`
	State   string   `json:"state"` // loaded, initialized, started, skipped, failed, stopped, exited
	Error   string   `json:"error,omitempty"`
	LogDump []string `json:"log_dump,omitempty"` // its most recent log lines
}

// CredentialStatus is the latest update of one credential.
type CredentialStatus struct {
	Provider            string `json:"provider"`
	Credential          string `json:"credential"`
	Kind                string `json:"kind,omitempty"`
	UpdateReason        string `json:"update_reason"`
	UpdateOutcome       string `json:"update_outcome"`
	FailureError        string `json:"failure_error,omitempty"`
	StartedTS           int64  `json:"started_ts,omitempty"`
	TotalDurationMicros int64  `json:"total_duration_us,omitempty"`
	RPCDurationMicros   int64  `json:"rpc_duration_us,omitempty"`
	LastUpdateTS        int64  `json:"last_update_ts,omitempty"`
	NextUpdateTS        int64  `json:"next_update_ts,omitempty"`
	ExpiryTS            int64  `json:"expiry_ts,omitempty"`
	Optional            bool   `json:"optional,omitempty"` // never makes the agent unready
}
