#!/bin/sh
# After install or upgrade: the service user, then systemd learns of the
# unit. The service is not enabled: edit /etc/sia-agent/env first, then
# `systemctl enable --now sia-agent`.
set -e
if command -v systemd-sysusers >/dev/null 2>&1; then
	systemd-sysusers /usr/lib/sysusers.d/sia-agent.conf
elif ! getent passwd sia-agent >/dev/null 2>&1; then
	useradd --system --user-group --no-create-home --home-dir /nonexistent \
		--shell /usr/sbin/nologin sia-agent
fi
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload || true
	# An upgrade restarts a running agent on the new binary.
	if systemctl is-active --quiet sia-agent.service; then
		systemctl try-restart sia-agent.service || true
	fi
fi
