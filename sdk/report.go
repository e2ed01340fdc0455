package sdk

// StatusReport is the agent's status report: the status file, the health
// provider's /status body, and what /readyz decides from: one entry per
// provider and the latest record of each credential.
//
// Times are Unix seconds, durations microseconds; 0 is none.
type StatusReport struct {
	AgentVersion string             `json:"agent_version"`
	StartedTS    int64              `json:"started_ts"` // when the agent started
	UpdatedTS    int64              `json:"updated_ts"` // when the report last changed
	Mode         string             `json:"mode"`       // refresh or init
	Profile      string             `json:"profile,omitempty"`
	Phase        string             `json:"phase"` // loading, init, start, running, shutdown
	Ready        bool               `json:"ready"` // what /readyz answers
	NotReady     []NotReady         `json:"not_ready,omitempty"`
	Providers    []ProviderStatus   `json:"providers"`       // in pipeline order
	Credentials  []CredentialStatus `json:"credentials"`     // the latest record of each
	Hooks        []HookStatus       `json:"hooks,omitempty"` // the pipeline's hooks, in file order
}

// HookStatus is what the last run of one of the pipeline's hooks did: the
// command it ran or the signal it sent after credentials changed. A
// failing hook never makes the agent unready: the credentials it was told
// about are in place all the same.
type HookStatus struct {
	Name        string   `json:"name"`
	Runs        uint64   `json:"runs"`                  // since the agent started
	Failures    uint64   `json:"failures"`              // of those
	LastRunTS   int64    `json:"last_run_ts,omitempty"` // when the last run began
	DurationUS  int64    `json:"duration_us,omitempty"` // how long it took
	Outcome     string   `json:"outcome,omitempty"`     // SUCCESS, FAILED, TIMEOUT
	Error       string   `json:"error,omitempty"`       // why it failed, bounded
	Credentials []string `json:"credentials,omitempty"` // provider/credential of the changes it ran for
}

// NotReady says why a provider keeps the agent from being ready.
type NotReady struct {
	Provider   string `json:"provider,omitempty"`   // empty for the agent itself
	Credential string `json:"credential,omitempty"` // empty for the provider as a whole
	Reason     string `json:"reason"`               // for a person to read
}

// ProviderStatus is where one provider is in the lifecycle.
type ProviderStatus struct {
	Name    string   `json:"name"`               // its name in the pipeline
	State   string   `json:"state"`              // loaded, initialized, started, skipped, failed, stopped, exited
	Error   string   `json:"error,omitempty"`    // why it failed or exited
	LogDump []string `json:"log_dump,omitempty"` // its most recent log lines
}

// CredentialStatus is the latest update of one credential: a
// StatusRecord as the agent keeps it.
type CredentialStatus struct {
	Provider            string `json:"provider"`                    // the provider that reported it
	Credential          string `json:"credential"`                  // StatusRecord.Credential
	Kind                string `json:"kind,omitempty"`              // StatusRecord.Kind
	UpdateReason        string `json:"update_reason"`               // StatusRecord.Reason
	UpdateOutcome       string `json:"update_outcome"`              // StatusRecord.Outcome
	FailureError        string `json:"failure_error,omitempty"`     // StatusRecord.Err's text
	StartedTS           int64  `json:"started_ts,omitempty"`        // StatusRecord.Started
	TotalDurationMicros int64  `json:"total_duration_us,omitempty"` // StatusRecord.Duration
	RPCDurationMicros   int64  `json:"rpc_duration_us,omitempty"`   // StatusRecord.RPCDuration
	LastUpdateTS        int64  `json:"last_update_ts,omitempty"`    // StatusRecord.LastUpdate
	NextUpdateTS        int64  `json:"next_update_ts,omitempty"`    // StatusRecord.NextUpdate
	ExpiryTS            int64  `json:"expiry_ts,omitempty"`         // StatusRecord.Expiry
	Optional            bool   `json:"optional,omitempty"`          // never makes the agent unready
}
