#!/bin/sh
# Renders /etc/haproxy/haproxy.cfg for the shop's web tier and reloads HAProxy.
# The defects that caused the outage are still in here, on purpose:
#  - WEB3_IP is read from the inventory, and was empty on the day (typo in the
#    inventory key), so web-03 was written as "server web-03 :8080";
#  - the "standby" logic copied from the database script marks every server
#    after the first as backup;
#  - the script reloads HAProxy without validating the new file first.
OUT=${OUT:-/etc/haproxy/haproxy.cfg}
WEB1_IP=10.0.1.11
WEB2_IP=10.0.1.12
WEB3_IP=$(inventory get web-03.ip)

cat > "$OUT" <<EOF_CFG
global
    log stdout format raw local0
    maxconn 4096

defaults
    mode http
    option redispatch
    timeout connect 5s
    timeout client 30s
    timeout server 30s
    timeout queue 10s

frontend www
    bind :80
    default_backend app

backend app
    balance roundrobin
    option httpchk GET /healthz
    default-server check inter 2s fall 3 rise 2 maxconn 200
    server web-01 ${WEB1_IP}:8080
    server web-02 ${WEB2_IP}:8080 backup
    server web-03 ${WEB3_IP}:8080 backup
EOF_CFG

systemctl reload haproxy
