# shellcheck shell=bash disable=SC2034  # the paths are read by scripts/dev-env's write_env
# TLS material of scripts/dev-env: PostgreSQL's server certificate, and for Kafka a server
# certificate, a client CA and client certificates. Everything is self-signed for 127.0.0.1 and
# made once per state dir. Sourced by scripts/dev-env after dev-env-pg.sh and dev-env-kafka.sh.

# The SASL_SSL and SSL listeners' certificate for 127.0.0.1.
KAFKA_TLS_CERT="$KAFKA_DIR/tls/broker.crt"
KAFKA_TLS_KEYSTORE="$KAFKA_DIR/tls/broker.pem"   # PKCS#8 key + certificate (ssl.keystore.type=PEM)
# The SSL listener trusts client certificates signed by a small CA of its own (client-ca.crt is its
# PEM truststore). client.crt/.key (CN=pgcdc) is signed by it; untrusted-client.crt/.key (CN=pgcdc
# too) by another CA that the broker does not trust, for the tests of a refused certificate.
KAFKA_CLIENT_CA_CERT="$KAFKA_DIR/tls/client-ca.crt"
KAFKA_CLIENT_CERT="$KAFKA_DIR/tls/client.crt"
KAFKA_CLIENT_KEY="$KAFKA_DIR/tls/client.key"
KAFKA_UNTRUSTED_CLIENT_CERT="$KAFKA_DIR/tls/untrusted-client.crt"
KAFKA_UNTRUSTED_CLIENT_KEY="$KAFKA_DIR/tls/untrusted-client.key"

# TLS with a self-signed certificate (data dir: server.crt, server.key), for the TLS tests
# (sslmode=require, or verify-ca/verify-full with sslrootcert=$STATE/pg/data/server.crt). The
# `host` lines of pg_hba.conf accept TLS and plain connections alike. Idempotent; a cluster made
# before this existed gets it on its next `up` (ssl is reloadable, no restart).
pg_setup_ssl() {
    [[ -f "$PG_DATA/server.crt" ]] && return 0
    log "generating a self-signed certificate for postgres"
    as_pg openssl req -new -x509 -days 3650 -nodes -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$PG_DATA/server.key" -out "$PG_DATA/server.crt" >"$STATE/openssl.log" 2>&1 \
        || { show_tail "$STATE/openssl.log"; die "openssl could not make a certificate"; }
    as_pg chmod 600 "$PG_DATA/server.key"
    as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null <<'EOF'
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
EOF
    if [[ -n "$(pg_pid)" ]]; then
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" reload >/dev/null
    fi
}

# A self-signed certificate for 127.0.0.1 and the broker's PEM keystore (key, then certificate).
kafka_setup_tls() {
    [[ -f "$KAFKA_TLS_KEYSTORE" ]] && return 0
    mkdir -p "$(dirname "$KAFKA_TLS_CERT")"
    log "generating a self-signed certificate for kafka's SASL_SSL listener"
    openssl req -new -x509 -days 3650 -nodes -newkey rsa:2048 -subj "/CN=localhost" \
        -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" \
        -keyout "$KAFKA_TLS_KEYSTORE.key" -out "$KAFKA_TLS_CERT" >"$STATE/kafka-openssl.log" 2>&1 \
        || { show_tail "$STATE/kafka-openssl.log"; die "openssl could not make kafka's certificate"; }
    cat "$KAFKA_TLS_KEYSTORE.key" "$KAFKA_TLS_CERT" >"$KAFKA_TLS_KEYSTORE"
    rm -f "$KAFKA_TLS_KEYSTORE.key"
    chmod 600 "$KAFKA_TLS_KEYSTORE"
}

# A CA (key and self-signed certificate) for client certificates: tls/<name>.key, tls/<name>.crt.
make_client_ca() {
    local name="$1" dir
    dir="$(dirname "$KAFKA_CLIENT_CA_CERT")"
    openssl req -new -x509 -days 3650 -nodes -newkey rsa:2048 -subj "/CN=pgcdc dev-env $name" \
        -keyout "$dir/$name.key" -out "$dir/$name.crt" >>"$STATE/kafka-openssl.log" 2>&1 \
        || { show_tail "$STATE/kafka-openssl.log"; die "openssl could not make the CA $name"; }
    chmod 600 "$dir/$name.key"
}

# A client certificate for CN=pgcdc, signed by the CA tls/<ca>.crt: tls/<name>.key, tls/<name>.crt.
make_client_cert() {
    local name="$1" ca="$2" dir
    dir="$(dirname "$KAFKA_CLIENT_CA_CERT")"
    openssl req -new -nodes -newkey rsa:2048 -subj "/CN=pgcdc" \
        -keyout "$dir/$name.key" -out "$dir/$name.csr" >>"$STATE/kafka-openssl.log" 2>&1 \
        && openssl x509 -req -days 3650 -in "$dir/$name.csr" -CA "$dir/$ca.crt" -CAkey "$dir/$ca.key" \
            -set_serial "0x$(openssl rand -hex 8)" -out "$dir/$name.crt" \
            -extfile <(printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n') \
            >>"$STATE/kafka-openssl.log" 2>&1 \
        || { show_tail "$STATE/kafka-openssl.log"; die "openssl could not make the certificate $name"; }
    rm -f "$dir/$name.csr"
    chmod 600 "$dir/$name.key"
}

# The SSL listener's client CA (its truststore) and two client certificates: one it trusts, one
# from a CA it does not. Made once; a state dir from before the listener gets them when its
# configuration is rewritten.
kafka_setup_client_tls() {
    [[ -f "$KAFKA_CLIENT_CA_CERT" && -f "$KAFKA_CLIENT_CERT" && -f "$KAFKA_UNTRUSTED_CLIENT_CERT" ]] \
        && return 0
    mkdir -p "$(dirname "$KAFKA_CLIENT_CA_CERT")"
    log "generating client certificates for kafka's SSL listener (mutual TLS)"
    make_client_ca client-ca
    make_client_cert client client-ca
    make_client_ca untrusted-ca
    make_client_cert untrusted-client untrusted-ca
}
