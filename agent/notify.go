package agent

import (
	"strconv"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/hashicorp/go-hclog"
	"golang.org/x/sys/unix"

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

// notifyReloading tells systemd, for a Type=notify or Type=notify-reload
// unit, that a reload began: RELOADING=1 with the CLOCK_MONOTONIC time,
// which notify-reload asks for. notifyReloaded says READY=1 when it ends,
// however it ended: the agent runs either way.
func notifyReloading(log hclog.Logger) {
	var ts unix.Timespec
	state := "RELOADING=1\nSTATUS=Reloading the pipeline"
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err == nil {
		state += "\nMONOTONIC_USEC=" + strconv.FormatInt(ts.Nano()/1e3, 10)
	}
	sdNotify(log, state)
}

func notifyReloaded(log hclog.Logger) {
	sdNotify(log, daemon.SdNotifyReady+"\nSTATUS=Running: the pipeline reloaded")
}

func sdNotify(log hclog.Logger, state string) {
	if _, err := daemon.SdNotify(false, state); err != nil {
		log.Warn("Could not notify systemd", "error", err)
	}
}
