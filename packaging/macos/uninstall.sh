#!/bin/sh
# Removes the Host from a Mac (pkg has no uninstaller): sudo uninstall.sh
set -u
launchctl bootout system/tandem-host 2>/dev/null || true
uid=$(stat -f %u /dev/console 2>/dev/null || echo 0)
[ "$uid" = 0 ] || launchctl bootout "gui/$uid/tandem-host-agent" 2>/dev/null || true
/usr/local/bin/tandem-host uninstall --config "/Library/Application Support/Tandem" 2>/dev/null || true
rm -f /Library/LaunchDaemons/tandem-host.plist /Library/LaunchAgents/tandem-host-agent.plist /usr/local/bin/tandem-host
rm -rf "/Library/Application Support/Tandem"
rm -rf /var/run/tandem-host
rm -f /var/log/tandem-host.err.log /var/log/tandem-host.out.log
pkgutil --forget org.tandem-rc.host >/dev/null 2>&1 || true
echo "Tandem Host removed"
