#!/bin/sh
# Generates a throw-away test CA and certificates with openssl, for the MQTT TLS tests and bench.
#   mqtt_test_ca.sh DIR
# Writes into DIR: ca.pem/ca.key (the CA), server.pem/server.key (signed by the CA, for
# 127.0.0.1 and localhost), wrong.pem/wrong.key (signed by the CA, for wrong.example.com only),
# other-ca.pem (an unrelated CA). Keys are unencrypted EC P-256; everything is valid for 2 days.
set -eu
dir=${1:?usage: mqtt_test_ca.sh DIR}
mkdir -p "$dir"
cd "$dir"
ossl() { openssl "$@" 2>/dev/null; }

ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=processnow test CA" -keyout ca.key -out ca.pem
ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=unrelated test CA" -keyout other-ca.key -out other-ca.pem

leaf() {  # leaf NAME CN SAN
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
    -keyout "$1.key" -out "$1.csr"
  printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n' \
    "$3" > "$1.ext"
  ossl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 \
    -extfile "$1.ext" -out "$1.pem"
  rm -f "$1.csr" "$1.ext"
}
leaf server localhost "IP:127.0.0.1,DNS:localhost"
leaf wrong wrong.example.com "DNS:wrong.example.com"
leaf client processnow-client "DNS:processnow-client"
chmod 600 ./*.key
