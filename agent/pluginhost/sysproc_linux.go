package pluginhost

import "syscall"

// sysProcAttr puts a plugin in its own process group, so that a terminal's
// Ctrl-C or a group-wide SIGTERM reaches only the agent, which then shuts
// the plugins down in order; and kills it if the agent dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
