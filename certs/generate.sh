#!/usr/bin/env bash
# Regenerates the development certificates in this folder (openssl 3.x).
# Development only: the private keys are committed on purpose so that samples and tests run
# without set-up. Never use them in production.
set -euo pipefail
cd "$(dirname "$0")"
days=36500

# A CA that signs the server and client certificates.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -keyout ca.key -out ca.pem -days "$days" -subj "/CN=SukatDtls Dev CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

sign() { # name subject extensions keyargs...
  local name=$1 subject=$2 ext=$3; shift 3
  openssl req -new -newkey "$@" -nodes -keyout "$name.key" -out "$name.csr" -subj "$subject"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
    -out "$name.pem" -days "$days" -extfile <(printf '%b' "$ext")
  rm -f "$name.csr"
}

server_ext='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n'
client_ext='basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'

# Default server certificate: ECDSA P-256.
sign server "/CN=localhost" "$server_ext" ec -pkeyopt ec_paramgen_curve:P-256
# Alternative server certificate: RSA-2048.
sign server-rsa "/CN=localhost" "$server_ext" rsa:2048
# A client certificate signed by the same CA.
sign client "/CN=SukatDtls Dev Client" "$client_ext" ec -pkeyopt ec_paramgen_curve:P-256

# PKCS#8 keys for every consumer (openssl, .NET and BouncyCastle all read them).
for k in ca server server-rsa client; do
  openssl pkey -in "$k.key" -out "$k.key.tmp" && mv "$k.key.tmp" "$k.key"
done
rm -f ca.srl
