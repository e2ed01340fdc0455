//go:build !linux

package pluginhost

import "syscall"

// sysProcAttr puts a plugin in its own process group. Without a
// parent-death signal, plugins notice a vanished agent themselves
// (sdk.Serve watches its parent).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
