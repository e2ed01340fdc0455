package lifecycle

import "fmt"

// State is where a provider is in the lifecycle. It reads, and marshals
// as text, as the lower-case word the status report shows.
type State uint8

// States a provider goes through.
const (
	StateLoaded      State = iota + 1 // launched and validated; nothing run yet
	StateInitialized                  // its Init succeeded
	StateStarted                      // its Start succeeded
	StateSkipped                      // its phase never ran: the run was cancelled first
	StateFailed                       // a phase returned an error, or its Shutdown timed out
	StateStopped                      // shut down cleanly
	StateExited                       // its process died, or was killed for not answering
)

var stateNames = [...]string{
	StateLoaded:      "loaded",
	StateInitialized: "initialized",
	StateStarted:     "started",
	StateSkipped:     "skipped",
	StateFailed:      "failed",
	StateStopped:     "stopped",
	StateExited:      "exited",
}

// String is the state's word: "started", "failed", ...
func (s State) String() string {
	if int(s) < len(stateNames) && stateNames[s] != "" {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// MarshalText writes the state's word.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// Phase is where the agent is in the lifecycle. It reads, and marshals as
// text, as the word the status report shows.
type Phase uint8

// The agent's phases, in order.
const (
	PhaseLoading  Phase = iota + 1 // parsing the pipeline, launching the plugins
	PhaseInit                      // running every Init in order
	PhaseStart                     // running every Start in order
	PhaseRunning                   // every provider started
	PhaseShutdown                  // shutting every provider down in reverse order
)

var phaseNames = [...]string{
	PhaseLoading:  "loading",
	PhaseInit:     "init",
	PhaseStart:    "start",
	PhaseRunning:  "running",
	PhaseShutdown: "shutdown",
}

// String is the phase's word: "init", "running", ...
func (p Phase) String() string {
	if int(p) < len(phaseNames) && phaseNames[p] != "" {
		return phaseNames[p]
	}
	return fmt.Sprintf("Phase(%d)", uint8(p))
}

// MarshalText writes the phase's word.
func (p Phase) MarshalText() ([]byte, error) { return []byte(p.String()), nil }
