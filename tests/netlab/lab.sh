# A NAT lab for Rendezvous built from network namespaces (sourced by run.sh; needs root).
#
#                       internet: namespace <tag>inet, bridge br0, 203.0.113.0/24
#      ┌────────────────┬──────────────┴───┬─────────────────┬───────────────────┐
#   server .10 + .11   router .21          router .22        router .2N ...
#   <tag>srv           <tag>r1             <tag>r2           (one per home)
#   default route      NAT kind per home   ...               corporate firewall:
#   into a discarding  LAN 192.168.1.0/24                    no UDP, TCP only to the
#   interface          host .10 <tag>h1                      server's 443 (and 8080)
#
# Every name starts with a per-run tag, every address lives inside namespaces this lab created,
# and lab_teardown removes them all (deleting a namespace removes its links, bridges and
# iptables rules). Processes started with lab_spawn are killed by PID on teardown.

LAB_SERVER_IP=203.0.113.10
LAB_SERVER_ALT_IP=203.0.113.11
LAB_TAG=""
LAB_NAMESPACES=()
LAB_PIDS=()

# lab_init TAG: the public segment and the server's namespace.
lab_init() {
  LAB_TAG=$1
  lab_add_ns inet
  ip -n "${LAB_TAG}inet" link add br0 type bridge
  ip -n "${LAB_TAG}inet" link set br0 up

  local srv="${LAB_TAG}srv"
  lab_add_ns srv
  ip -n "$srv" link add eth0 type veth peer name srv netns "${LAB_TAG}inet"
  ip -n "${LAB_TAG}inet" link set srv master br0 up
  ip -n "$srv" addr add "$LAB_SERVER_IP/24" dev eth0
  ip -n "$srv" addr add "$LAB_SERVER_ALT_IP/24" dev eth0
  ip -n "$srv" link set eth0 up
  # The rest of the internet: a veth pair whose far end stays down, so sends to addresses
  # outside the lab succeed locally and vanish, as they would on a real host.
  ip -n "$srv" link add void type veth peer name void1
  ip -n "$srv" link set void up
  ip -n "$srv" route add default dev void
}

# lab_add_ns SHORT: a namespace named <tag>SHORT with loopback up.
lab_add_ns() {
  local ns="${LAB_TAG}$1"
  ip netns add "$ns"
  LAB_NAMESPACES+=("$ns")
  ip -n "$ns" link set lo up
}

# lab_home N KIND [HOSTS]: router <tag>rN (WAN 203.0.113.(20+N)) and HOSTS hosts (default 1) on
# its LAN: <tag>hN at 192.168.N.10, then <tag>hNx1 at .11, <tag>hNx2 at .12 ...
# KIND: cone (port-restricted cone: Linux MASQUERADE, endpoint-independent mapping,
# address-and-port-dependent filtering), symmetric (MASQUERADE --random-fully: a new public port
# per destination), corporate (UDP dropped; TCP only to the server's port 443, plus 8080 where
# the web pages and signaling are served).
lab_home() {
  local n=$1 kind=$2 hosts=${3:-1}
  local r="${LAB_TAG}r$n" wan="203.0.113.$((20 + n))"
  lab_add_ns "r$n"
  ip -n "$r" link add wan type veth peer name "r$n" netns "${LAB_TAG}inet"
  ip -n "${LAB_TAG}inet" link set "r$n" master br0 up
  ip -n "$r" addr add "$wan/24" dev wan
  ip -n "$r" link set wan up
  ip -n "$r" link add lan type bridge
  ip -n "$r" addr add "192.168.$n.1/24" dev lan
  ip -n "$r" link set lan up
  ip netns exec "$r" sysctl -qw net.ipv4.ip_forward=1

  local ipt=(ip netns exec "$r" iptables)
  # A home router: LAN to WAN and the replies; nothing unsolicited from outside, not even an
  # ICMP port-unreachable from the router itself.
  "${ipt[@]}" -P FORWARD DROP
  "${ipt[@]}" -A FORWARD -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  # Hosts on one LAN reach each other through the router's LAN bridge, as through a home switch.
  # (With br_netfilter loaded, bridged packets pass this FORWARD chain too.)
  "${ipt[@]}" -A FORWARD -i lan -o lan -j ACCEPT
  "${ipt[@]}" -A INPUT -i wan -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT
  "${ipt[@]}" -A INPUT -i wan -j DROP
  case "$kind" in
    cone)
      "${ipt[@]}" -A FORWARD -i lan -o wan -j ACCEPT
      "${ipt[@]}" -t nat -A POSTROUTING -o wan -j MASQUERADE
      ;;
    symmetric)
      "${ipt[@]}" -A FORWARD -i lan -o wan -j ACCEPT
      "${ipt[@]}" -t nat -A POSTROUTING -o wan -j MASQUERADE --random-fully
      ;;
    corporate)
      "${ipt[@]}" -A FORWARD -i lan -o wan -p tcp -d "$LAB_SERVER_IP" --dport 443 -j ACCEPT
      "${ipt[@]}" -A FORWARD -i lan -o wan -p tcp -d "$LAB_SERVER_IP" --dport 8080 -j ACCEPT
      "${ipt[@]}" -t nat -A POSTROUTING -o wan -j MASQUERADE
      ;;
    *)
      echo "lab_home: unknown kind $kind" >&2
      return 1
      ;;
  esac

  local i
  for ((i = 0; i < hosts; i++)); do
    local h="${LAB_TAG}h$n" ip="192.168.$n.$((10 + i))"
    ((i == 0)) || h="${LAB_TAG}h${n}x$i"
    lab_add_ns "${h#"$LAB_TAG"}"
    ip -n "$h" link add eth0 type veth peer name "p$i" netns "$r"
    ip -n "$r" link set "p$i" master lan up
    ip -n "$h" addr add "$ip/24" dev eth0
    ip -n "$h" link set eth0 up
    ip -n "$h" route add default via "192.168.$n.1"
  done
}

# lab_spawn NS LOGFILE CMD...: runs CMD inside NS in the background; its PID goes into LAB_PIDS
# (`ip netns exec` execs CMD, so the PID is CMD's own).
lab_spawn() {
  local ns=$1 log=$2
  shift 2
  ip netns exec "$ns" "$@" >"$log" 2>&1 &
  LAB_PIDS+=($!)
  LAB_LAST_PID=$!
}

# lab_teardown: stop our processes (TERM, then KILL after 5 s), then delete our namespaces.
# Anything still running inside one of our namespaces (a browser whose driver died, say) was
# started by this run too: it is stopped by PID as well.
lab_teardown() {
  local pid i ns
  for ns in "${LAB_NAMESPACES[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do LAB_PIDS+=("$pid"); done
  done
  for pid in "${LAB_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for ((i = 0; i < 50; i++)); do
    local alive=0
    for pid in "${LAB_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${LAB_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${LAB_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  LAB_PIDS=()
  for ((i = ${#LAB_NAMESPACES[@]} - 1; i >= 0; i--)); do
    ip netns delete "${LAB_NAMESPACES[i]}" 2>/dev/null || true
  done
  LAB_NAMESPACES=()
}

# lab_leftovers: namespaces whose names start with our tag (empty after a clean teardown).
lab_leftovers() {
  ip netns list | awk '{print $1}' | grep "^${LAB_TAG}" || true
}
