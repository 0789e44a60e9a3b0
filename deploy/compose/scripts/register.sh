#!/bin/sh
# register.sh SERVICE APP_PORT MESH_PORT [UPSTREAM]
# Registers one workload with Accord and writes its Envoy bootstrap and the CA bundle into
# /var/lib/accord (the pod's bootstrap volume, which Envoy mounts at /bootstrap). It runs in the
# pod's network namespace, so the address it registers is the one the sidecar will listen on.
set -eu
SERVICE=$1
APP_PORT=$2
MESH_PORT=$3
UPSTREAM=${4:-}
OUT=${BOOTSTRAP_DIR:-/var/lib/accord}
ADDRESS=$(node -e 'const a=Object.values(require("os").networkInterfaces()).flat().find(i=>i.family==="IPv4"&&!i.internal);if(!a){console.error("register.sh: no IPv4 address in this network namespace");process.exit(1)}process.stdout.write(a.address)')
# ${UPSTREAM:+...} adds the flag only when an upstream was given (UPSTREAM holds no spaces).
accord register --service "$SERVICE" --address "$ADDRESS" --port "$APP_PORT" --mesh-port "$MESH_PORT" --ttl 60s -o json \
  ${UPSTREAM:+--upstream=$UPSTREAM} > "$OUT/registration.json"
ID=$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).id)' "$OUT/registration.json")
accord ca bundle > "$OUT/ca.pem"
accord bootstrap --workload "$ID" --format envoy --xds accord:18000 --ca-bundle /bootstrap/ca.pem --out "$OUT/envoy.yaml"
rm "$OUT/registration.json"
echo "registered $SERVICE as $ID at $ADDRESS"
