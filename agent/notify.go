package agent

import (
	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-hclog"

	"github.com/sia-agent/sia-agent/agent/lifecycle"
)

// notifyPhase returns what tells systemd, for a Type=notify unit, where
// the agent is: READY=1 once every provider started (so that units
// ordered after sia-agent start then), STOPPING=1 when shutdown begins.
// Without $NOTIFY_SOCKET (not under systemd) it sends nothing.
func notifyPhase(log hclog.Logger) func(phase lifecycle.Phase) {
	return func(phase lifecycle.Phase) {
		var state string
		switch phase {
		case lifecycle.PhaseRunning:
			state = daemon.SdNotifyReady + "\nSTATUS=Running: every provider started"
		case lifecycle.PhaseShutdown:
			state = daemon.SdNotifyStopping + "\nSTATUS=Shutting down"
		default:
			return
		}
		if _, err := daemon.SdNotify(false, state); err != nil {
			log.Warn("Could not notify systemd", "phase", phase, "error", err)
		}
	}
}
