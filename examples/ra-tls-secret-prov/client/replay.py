#!/usr/bin/env python3
"""Present a given RA-TLS client certificate to a secret-provisioning server.

Usage: replay.py HOST:PORT CA_CERT CLIENT_CERT CLIENT_KEY

Speaks Gramine's secret-provisioning wire format (docs/spec/secretprov.md
section 1). Used by check.sh to show that a certificate which was accepted
once is refused when it is presented again (a replay). Prints "accepted N
bytes" (never the secret itself) and exits 0, or prints why it was refused
and exits 1.
"""
import socket
import ssl
import struct
import sys

REQUEST = b"SECRET_PROVISION_RA_TLS_REQUEST_V1\0"
RESPONSE = b"SECRET_PROVISION_RA_TLS_RESPONSE_V1:\0"


def read_exactly(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise ConnectionError(f"server closed the connection after {len(buf)} of {n} bytes")
        buf += chunk
    return buf


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    server, ca, cert, key = sys.argv[1:]
    host, port = server.rsplit(":", 1)
    ctx = ssl.create_default_context(cafile=ca)
    ctx.load_cert_chain(cert, key)
    try:
        with socket.create_connection((host, int(port)), timeout=30) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as conn:
                conn.sendall(REQUEST)
                head = read_exactly(conn, len(RESPONSE) + 4)
                if head[: len(RESPONSE)] != RESPONSE:
                    raise ConnectionError(f"unexpected response header {head!r}")
                (n,) = struct.unpack(">I", head[len(RESPONSE):])
                read_exactly(conn, n)
    except (OSError, ssl.SSLError, ConnectionError) as e:
        print(f"refused: {e}")
        sys.exit(1)
    print(f"accepted: received a {n}-byte secret")


if __name__ == "__main__":
    main()
