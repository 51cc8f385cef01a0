#!/usr/bin/env bash
# block-ips on the hosts done by hand (the fleet bench's baseline): one host after another, one
# ssh session each, running the commands the runbook's host step stands for - an nftables drop
# set and rule (nft add table/set/chain/element/rule), a deny line per address in the nginx deny
# include, the configuration checked with nginx -t, nginx reloaded when it runs.
# Usage: fleet_block.sh SSH_CONFIG ADDRESS[,ADDRESS...] HOST...
# A lab host's files live under its root folder, which its sshd exports as IRDRIVE_HOST_ROOT
# (empty on a real host: /etc/nginx/...).
set -euo pipefail
ssh_config=$1 addresses=$2
shift 2
elements=${addresses//,/, }
for host in "$@"; do
  ssh -F "$ssh_config" "$host" "set -e
root=\${IRDRIVE_HOST_ROOT:-}
deny=\$root/etc/nginx/conf.d/irdrive-deny.conf conf=\$root/etc/nginx/nginx.conf
nft add table inet irdrive
nft add set inet irdrive blocked_v4 '{ type ipv4_addr; flags interval; }'
nft add chain inet irdrive input '{ type filter hook input priority -10; policy accept; }'
nft add element inet irdrive blocked_v4 '{ $elements }'
nft list chain inet irdrive input | grep -q @blocked_v4 ||
  nft add rule inet irdrive input ip saddr @blocked_v4 drop
for a in ${addresses//,/ }; do
  grep -qx \"deny \$a/32;\" \$deny 2>/dev/null || echo \"deny \$a/32;\" >> \$deny
done
nginx -t -q -c \$conf
pid=\$root/run/nginx.pid
if [ -s \$pid ] && kill -0 \$(cat \$pid) 2>/dev/null; then nginx -s reload -c \$conf; fi
"
done
