"""Sends HTTP/2 (prior knowledge) requests byte for byte as given, for tests/hostile.rs.

Rust's `http` crate refuses a request target that is not UTF-8, so no Rust HTTP/2 client can send
the `:path` a hostile client can; the `h2` package, with its header validation and normalisation
off, sends any bytes.

stdin: JSON {"port": N, "tls": null | {"cafile": "ca.crt", "server_name": "localhost"}, "requests":
[{"path": "...", "headers": [["name", "value"], ...]}]}. With "tls", each connection is TLS (1.2 or
later) trusting only the CA certificate in "cafile", with ALPN h2 (anything else negotiated is an
error) and :scheme https; without it, cleartext h2c with :scheme http. Every
string stands for bytes: each character is one byte (U+0000..U+00FF, i.e. Latin-1), so "\u00ff" is
the byte 0xff. Each request goes on a connection of its own, GET with an empty body.

stdout: JSON, one object per request, in order: {"status": N, "headers": [[n, v], ...], "body":
"..."} for an answer, {"reset": CODE} if the stream was reset, {"closed": "..."} if the connection
ended first. Strings are Latin-1 decoded the same way.
"""

import json
import socket
import ssl
import sys

import h2.config
import h2.connection
import h2.events

TIMEOUT_SECONDS = 10


def latin1(text):
    return text.encode("latin-1")


def tls_context(tls):
    context = ssl.create_default_context(cafile=tls["cafile"])
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])
    return context


def connect(port, tls):
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_SECONDS)
    if not tls:
        return sock
    try:
        wrapped = tls_context(tls).wrap_socket(sock, server_hostname=tls["server_name"])
    except BaseException:
        sock.close()
        raise
    if wrapped.selected_alpn_protocol() != "h2":
        wrapped.close()
        raise OSError("ALPN: the server chose %r, not h2" % wrapped.selected_alpn_protocol())
    return wrapped


def send(port, tls, request):
    config = h2.config.H2Configuration(
        client_side=True,
        header_encoding=None,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
        validate_inbound_headers=False,
    )
    conn = h2.connection.H2Connection(config=config)
    with connect(port, tls) as sock:
        conn.initiate_connection()
        stream = conn.get_next_available_stream_id()
        headers = [
            (b":method", b"GET"),
            (b":scheme", b"https" if tls else b"http"),
            (b":authority", latin1("127.0.0.1:%d" % port)),
            (b":path", latin1(request["path"])),
        ] + [(latin1(n), latin1(v)) for n, v in request["headers"]]
        conn.send_headers(stream, headers, end_stream=True)
        sock.sendall(conn.data_to_send())
        status, reply_headers, body = None, [], b""
        while True:
            data = sock.recv(65536)
            if not data:
                return {"closed": "connection closed before the answer"}
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived) and event.stream_id == stream:
                    for name, value in event.headers:
                        if name == b":status":
                            status = int(value)
                        else:
                            reply_headers.append([name.decode("latin-1"), value.decode("latin-1")])
                elif isinstance(event, h2.events.DataReceived) and event.stream_id == stream:
                    body += event.data
                    conn.acknowledge_received_data(event.flow_controlled_length, stream)
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id == stream:
                    conn.close_connection()
                    sock.sendall(conn.data_to_send())
                    return {
                        "status": status,
                        "headers": reply_headers,
                        "body": body.decode("latin-1"),
                    }
                elif isinstance(event, h2.events.StreamReset) and event.stream_id == stream:
                    return {"reset": int(event.error_code)}
                elif isinstance(event, h2.events.ConnectionTerminated):
                    return {"closed": "GOAWAY %s" % event.error_code}
            pending = conn.data_to_send()
            if pending:
                sock.sendall(pending)


def main():
    spec = json.load(sys.stdin)
    results = []
    for request in spec["requests"]:
        try:
            results.append(send(spec["port"], spec.get("tls"), request))
        except OSError as e:
            results.append({"closed": "%s: %s" % (type(e).__name__, e)})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
