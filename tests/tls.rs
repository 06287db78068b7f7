//! HTTPS at the edge: the demo's edge listener serves TLS only, with the certificate made for
//! this run (`jwt_relay_cli::cert`, what `jwt-relay-cli cert` and the demo run), for `localhost`
//! and `127.0.0.1`, negotiating HTTP/2 or HTTP/1.1 by ALPN; a cleartext request, even one with a
//! valid token, gets no answer and reaches no upstream; a client that does not trust the demo CA
//! refuses the certificate. (Every other end-to-end test reaches the edge over TLS too: see
//! `tests/support`.)

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code: fail loudly

mod support;

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::CertificateDer;
use support::tokens::{self, DemoKeys};
use support::{get, raw_http1, raw_http2, tls, tls_stream, Endpoint, Envoy, RawRequest};

const UPSTREAMS: [&str; 4] = [
    "orders_cluster",
    "inventory_cluster",
    "web_cluster",
    "payments_cluster",
];

fn valid_token() -> String {
    let keys = DemoKeys::load();
    tokens::sign(&keys.rsa, &tokens::claims(serde_json::json!({})))
}

#[test]
fn the_edge_serves_this_runs_certificate_and_negotiates_the_protocol() {
    let envoy = Envoy::start_demo("tls-certificate");
    let edge = envoy.endpoint("edge");
    assert!(edge.tls, "the demo's edge listener serves TLS");
    assert!(
        !envoy.is_tls("internal"),
        "the internal hop stays cleartext"
    );
    let served = CertificateDer::pem_file_iter(&tls().cert.cert)
        .unwrap()
        .map(Result::unwrap)
        .collect::<Vec<_>>();
    // (what the client offers, what must be chosen)
    for (offer, chosen) in [
        (&["h2", "http/1.1"][..], "h2"),
        (&["http/1.1", "h2"][..], "h2"),
        (&["http/1.1"][..], "http/1.1"),
    ] {
        let socket = TcpStream::connect(("127.0.0.1", edge.port)).unwrap();
        // The handshake verifies the chain against the run's CA, for the name "localhost".
        let stream = tls_stream(socket, offer).unwrap_or_else(|e| panic!("ALPN {offer:?}: {e}"));
        let certificates = stream.conn.peer_certificates().unwrap();
        assert_eq!(
            certificates.first(),
            served.first(),
            "the edge serves the certificate made for this run"
        );
        assert_eq!(
            stream.conn.alpn_protocol(),
            Some(chosen.as_bytes()),
            "offered {offer:?}"
        );
        let version = stream.conn.protocol_version().unwrap();
        assert!(
            [
                rustls::ProtocolVersion::TLSv1_2,
                rustls::ProtocolVersion::TLSv1_3
            ]
            .contains(&version),
            "{version:?}"
        );
    }
    // And a request over each: the token is checked as ever.
    let valid =
        RawRequest::new(b"/".to_vec()).header("authorization", format!("Bearer {}", valid_token()));
    assert_eq!(raw_http1(edge, &valid).map(|r| r.status), Ok(200));
    assert_eq!(
        raw_http2(edge, std::slice::from_ref(&valid))[0]
            .as_ref()
            .map(|r| r.status),
        Ok(200)
    );
    assert_eq!(
        raw_http1(edge, &RawRequest::new(b"/".to_vec())).map(|r| r.status),
        Ok(401)
    );
    envoy.assert_no_traps();
}

#[test]
fn the_edge_gives_cleartext_no_answer() {
    let envoy = Envoy::start_demo("tls-cleartext");
    let edge = envoy.endpoint("edge");
    let bearer = format!("Bearer {}", valid_token());
    let before = envoy.upstream_requests(&UPSTREAMS).unwrap();

    // HTTP/1.1 in clear, with a valid token: whatever comes back (a TLS alert, or nothing before
    // the connection closes), it is no HTTP answer.
    let mut socket = TcpStream::connect(("127.0.0.1", edge.port)).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nhost: localhost:{}\r\nauthorization: {bearer}\r\nconnection: close\r\n\r\n",
        edge.port
    );
    socket.write_all(request.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let read = socket.read_to_end(&mut answer);
    assert!(
        !answer.starts_with(b"HTTP/") && !String::from_utf8_lossy(&answer).contains("200"),
        "cleartext HTTP/1.1 got an HTTP answer ({read:?}): {:?}",
        String::from_utf8_lossy(&answer)
    );
    // The raw HTTP/1.1 client, told the edge is cleartext: no answer either.
    let cleartext = Endpoint {
        port: edge.port,
        tls: false,
    };
    let valid = RawRequest::new(b"/".to_vec()).header("authorization", bearer.clone());
    let reply = raw_http1(cleartext, &valid);
    assert!(reply.is_err(), "cleartext HTTP/1.1 got {reply:?}");
    // Cleartext HTTP/2 with prior knowledge (h2c): no answer.
    let reply = &raw_http2(cleartext, std::slice::from_ref(&valid))[0];
    assert!(reply.is_err(), "h2c got {reply:?}");
    // The HTTP clients, with an http:// URL: an error, not a status.
    let http_url = format!("http://127.0.0.1:{}/", edge.port);
    let headers = [("authorization".to_owned(), bearer.clone())];
    let reply = get(&support::agent(), &http_url, &headers);
    assert!(reply.is_err(), "http:// to the edge got {reply:?}");

    // A client that trusts only the public web PKI (the CLI's default agent) refuses the demo
    // certificate: it is trusted only by whoever is handed the demo CA.
    let https_url = format!("{}/", envoy.url("edge"));
    let reply = get(&jwt_relay_cli::envoy::agent(), &https_url, &headers);
    let refused = reply.expect_err("a client without the demo CA accepted the edge certificate");
    assert!(
        refused.to_lowercase().contains("certificate") || refused.to_lowercase().contains("issuer"),
        "{refused}"
    );
    // Nothing reached an upstream; the same request over TLS does.
    assert_eq!(envoy.upstream_requests(&UPSTREAMS).unwrap(), before);
    let reply = get(&support::agent(), &https_url, &headers).unwrap();
    assert_eq!(reply.status, 200, "{}", reply.body);
    envoy.assert_no_traps();
}
