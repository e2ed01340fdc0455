#!/bin/sh
# Before the package's files go (deb: "remove"; rpm: 0 packages left, not
# an upgrade): stop and disable the service.
set -e
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now sia-agent.service || true
	fi
	;;
esac
