package e2e

import (
	"errors"
	"fmt"
	"time"

	"golang.org/x/sys/unix"
)

// WaitExit waits, at most timeout, for process pid to end; a zombie has
// ended. It waits on a pidfd, which the kernel makes readable when the
// process exits, so that it works for processes that are not the
// caller's children, and polls nothing. A process already gone (reaped)
// counts as ended.
func WaitExit(pid int, timeout time.Duration) error {
	fd, err := unix.PidfdOpen(pid, 0)
	if errors.Is(err, unix.ESRCH) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("watching process %d: %w", pid, err)
	}
	defer unix.Close(fd) //nolint:errcheck // a pidfd holds nothing to flush
	deadline := time.Now().Add(timeout)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return fmt.Errorf("process %d still runs after %v", pid, timeout)
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}} //nolint:gosec // G115: a descriptor fits an int32
		n, err := unix.Poll(fds, int(left.Milliseconds())+1)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return fmt.Errorf("watching process %d: %w", pid, err)
		case n > 0:
			return nil
		}
	}
}
