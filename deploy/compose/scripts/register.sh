#!/bin/sh
# register.sh SERVICE ADDRESS APP_PORT MESH_PORT [UPSTREAM]
# Registers one workload with Accord and writes its Envoy bootstrap and the CA bundle.
set -e
SERVICE=$1; ADDRESS=$2; APP_PORT=$3; MESH_PORT=$4; UPSTREAM=$5
ADDR=$(getent hosts "$ADDRESS" | awk '{print $1}')
accord register --service "$SERVICE" --address "${ADDR:-$ADDRESS}" --port "$APP_PORT" --mesh-port "$MESH_PORT" --ttl 60s -o json ${UPSTREAM:+--upstream "$UPSTREAM"} > /bootstrap/registration.json
ID=$(node -e 'process.stdout.write(require("/bootstrap/registration.json").id)')
accord ca bundle > /bootstrap/ca.pem
accord bootstrap --workload "$ID" --format envoy --xds accord:18000 --ca-bundle /bootstrap/ca.pem --out /bootstrap/envoy.yaml
echo "registered $SERVICE as $ID"
