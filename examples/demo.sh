#!/usr/bin/env bash
# `make demo`: the incident this project exists for, told by lbguard itself.
# A provisioning script wrote a balancer config in which one server took all the
# traffic. lbguard finds it before deploy, predicts it, and proves it.
set -uo pipefail
cd "$(dirname "$0")/.."
LBGUARD=${LBGUARD:-.venv/bin/lbguard}
# DEMO_FAST=1 (the test suite) sends fewer requests through the real balancer.
VERIFY_REQUESTS=600
[ "${DEMO_FAST:-0}" = 1 ] && VERIFY_REQUESTS=200
export COLUMNS=${COLUMNS:-100}

section() { printf '\n\033[1m== %s ==\033[0m\n\n' "$1"; }

section "1. lbguard check on the provisioning script (WEB3_IP came back empty from the inventory)"
"$LBGUARD" check --var WEB3_IP= examples/incident/provision-lb.sh
echo "(exit status $? : the empty variable is named at the script's own line)"

section "2. lbguard check: the config that was deployed on the day of the outage"
"$LBGUARD" check examples/incident/haproxy.cfg
echo "(exit status $? : findings at or above 'warning' fail the check)"

section "3. lbguard check: its corrected twin"
"$LBGUARD" check examples/incident/haproxy.fixed.cfg
status=$?
echo "(exit status $status)"
[ "$status" -eq 0 ] || { echo "demo: the fixed config should be clean" >&2; exit 1; }

section "4. lbguard simulate: where would the traffic go?"
"$LBGUARD" simulate examples/incident/haproxy.cfg
echo
"$LBGUARD" simulate examples/incident/haproxy.fixed.cfg
echo
"$LBGUARD" diff examples/incident/haproxy.cfg examples/incident/haproxy.fixed.cfg

section "5. lbguard verify: the same configs in the real haproxy, on loopback"
"$LBGUARD" verify --requests "$VERIFY_REQUESTS" examples/incident/haproxy.cfg
"$LBGUARD" verify --requests "$VERIFY_REQUESTS" examples/incident/haproxy.fixed.cfg

section "6. lbguard watch: the outage replayed live, and caught within seconds"
"${PYTHON:-.venv/bin/python}" examples/watch_demo.py
echo "(exit status $? : the alert fired on the bad reload and resolved after the fix)"

section "7. Machine-readable output for CI (JSON contract, version 1)"
"$LBGUARD" check --format json examples/incident/haproxy.cfg | head -n 30
echo

section "8. Seeing overload coming: agent-check lines for the fixed config (LBG207's suggestion)"
"$LBGUARD" agent --print-haproxy-snippet examples/incident/haproxy.fixed.cfg --backend app

section "Next"
echo "Docs:      https://lbguard.dev/  (or: make docs, then open site/index.html)"
echo "Procedure: docs/procedure.md     Runbooks: docs/runbooks/index.md"
echo "Rules:     docs/rules/index.md   Try: lbguard explain LBG101"
echo "Drill:     lbguard drill list, then lbguard drill start --random"
