#!/usr/bin/env bash
# `make demo`: the incident this project exists for, told by lbguard itself, in order.
# A provisioning script wrote a balancer config in which one server took all the
# traffic. lbguard catches it before deploy, predicts it, proves it in the real
# haproxy, catches it live when it is deployed anyway, sees an overloaded server
# coming, audits the drift, and writes the postmortem's timeline.
# Everything runs on loopback, in temporary folders, and stops by itself.
# DEMO_FAST=1 shortens the live parts (the test suite runs it that way).
set -uo pipefail
cd "$(dirname "$0")/.."
LBGUARD=${LBGUARD:-.venv/bin/lbguard}
PYTHON=${PYTHON:-.venv/bin/python}
export COLUMNS=${COLUMNS:-100}

section() { printf '\n\033[1m== %s ==\033[0m\n\n' "$1"; }
note() { printf '\033[2m%s\033[0m\n' "$1"; }

demo_dir=$(mktemp -d)
trap 'rm -rf "$demo_dir"' EXIT
export LBGUARD_STORE="$demo_dir/lbguard.db"   # a throwaway trail for this story, not yours
deployed="$demo_dir/haproxy.cfg"              # "the file on the balancer"

section "1. lbguard check catches the bad provisioning script (WEB3_IP came back empty)"
"$LBGUARD" check --var WEB3_IP= examples/incident/provision-lb.sh
note "(exit status $? : the empty variable is named at the script's own line)"
echo
"$LBGUARD" check examples/incident/haproxy.cfg
note "(exit status $? : the config it wrote fails the check; its corrected twin passes:)"
"$LBGUARD" check examples/incident/haproxy.fixed.cfg
status=$?
note "(exit status $status)"
[ "$status" -eq 0 ] || { echo "demo: the fixed config should be clean" >&2; exit 1; }

section "2. lbguard simulate predicts where the traffic goes: web-01 takes 100%"
"$LBGUARD" simulate examples/incident/haproxy.cfg
echo
"$LBGUARD" diff examples/incident/haproxy.fixed.cfg examples/incident/haproxy.cfg

section "3. lbguard verify proves it in the real haproxy, on loopback"
"$LBGUARD" verify --requests 5000 examples/incident/haproxy.cfg
note "(exit status $? : the real balancer agrees with the prediction, and fails --max-share)"
"$LBGUARD" verify --requests 5000 examples/incident/haproxy.fixed.cfg

section "4. lbguard watch fires within seconds when the bad config is deployed anyway"
cp examples/incident/haproxy.fixed.cfg "$deployed"
"$LBGUARD" baseline approve --note "the reviewed config" "$deployed" >/dev/null
DEMO_DEPLOYED="$deployed" "$PYTHON" examples/watch_demo.py
note "(exit status $? : the alert fired on the bad reload and resolved after the fix)"

section "5. lbguard agent lowers an overloaded server's weight before it falls over"
"$PYTHON" examples/agent_demo.py
note "(exit status $?)"

section "6. lbguard audit catches the drift a post-deploy pipeline step would have failed on"
cp examples/incident/haproxy.cfg "$deployed"   # what provision-lb.sh wrote
"$LBGUARD" audit --post-deploy "$deployed"
note "(exit status $? : unapproved drift, ranked by the traffic it moves)"
cp examples/incident/haproxy.fixed.cfg "$deployed"
"$LBGUARD" trail verify

section "7. lbguard postmortem writes the timeline from the trail"
"$LBGUARD" postmortem --since 30m --format markdown

section "Next"
echo "Docs:      https://lbguard.dev/  (or: make docs, then open site/index.html)"
echo "Procedure: docs/procedure.md     Runbooks: docs/runbooks/index.md"
echo "Rules:     docs/rules/index.md   Try: lbguard explain LBG101"
echo "Drill:     lbguard drill list, then lbguard drill start --random"
