# lib.sh: what the namespace tests share — run a command in one of the test's namespaces, remove them all on exit
# (stopping the processes left in them by PID), wait for a condition. Source it after setting P (the namespaces'
# prefix), WORK (a scratch directory, removed too) and NSS (the namespaces' short names).
ns() { local n=$1; shift; ip netns exec "$P-$n" "$@"; }
cleanup() {
    for n in $NSS; do
        for p in $(ip netns pids "$P-$n" 2>/dev/null); do kill "$p" 2>/dev/null || true; done
    done
    sleep 0.3
    for n in $NSS; do
        for p in $(ip netns pids "$P-$n" 2>/dev/null); do kill -9 "$p" 2>/dev/null || true; done
        ip netns del "$P-$n" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
step() { echo "== $*"; }
wait_for() {  # wait_for SECONDS CONDITION-COMMAND...: polls every 0.1 s
    local end; end=$(($(date +%s%N) + ${1%.*} * 1000000000)); shift
    while [ "$(date +%s%N)" -le "$end" ]; do "$@" && return 0; sleep 0.1; done
    return 1
}
