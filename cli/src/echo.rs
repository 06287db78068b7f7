//! Echo upstream for the end-to-end tests and the demo: every request is answered with what
//! arrived, so a test can see exactly which headers the filter forwarded.

use std::{io, sync::Arc, thread};

use anyhow::{anyhow, Context, Result};
use serde_json::{json, Value};
use tiny_http::{Header, Request, Response, Server};

/// Enough workers that a test's parallel requests are not answered one after another.
const WORKERS: usize = 4;

/// Binds `addr` (e.g. "127.0.0.1:0"), serves on background threads for the rest of the process,
/// and returns the bound port.
pub fn spawn(addr: &str) -> Result<u16> {
    let server = bind(addr)?;
    let port = server
        .server_addr()
        .to_ip()
        .map(|ip| ip.port())
        .with_context(|| format!("{addr} is not an IP listener"))?;
    start_workers(server)?;
    Ok(port)
}

/// Binds `addr` and serves in the foreground; returns only if the server breaks.
pub fn serve_forever(addr: &str) -> Result<()> {
    let server = bind(addr)?;
    eprintln!("echo upstream listening on {}", server.server_addr());
    for worker in start_workers(server)? {
        worker
            .join()
            .map_err(|_| anyhow!("an echo worker panicked"))?;
    }
    Ok(())
}

/// The response body for a request: method, raw request target and every header, in order.
fn describe(request: &Request) -> Value {
    let headers: Vec<Value> = request
        .headers()
        .iter()
        .map(|header| {
            json!([
                header.field.as_str().as_str().to_ascii_lowercase(),
                header.value.as_str()
            ])
        })
        .collect();
    json!({
        "method": request.method().as_str(),
        "path": request.url(),
        "headers": headers,
    })
}

fn bind(addr: &str) -> Result<Arc<Server>> {
    let server = Server::http(addr).map_err(|err| anyhow!("cannot listen on {addr}: {err}"))?;
    Ok(Arc::new(server))
}

fn start_workers(server: Arc<Server>) -> Result<Vec<thread::JoinHandle<()>>> {
    let content_type = Header::from_bytes("Content-Type", "application/json")
        .map_err(|()| anyhow!("invalid content-type header"))?;
    (0..WORKERS)
        .map(|index| {
            let server = Arc::clone(&server);
            let content_type = content_type.clone();
            thread::Builder::new()
                .name(format!("echo-{index}"))
                .spawn(move || serve(&server, &content_type))
                .context("cannot start an echo worker thread")
        })
        .collect()
}

fn serve(server: &Server, content_type: &Header) {
    loop {
        match server.recv() {
            Ok(request) => answer(request, content_type.clone()),
            // An accept error concerns one connection; keep serving the others.
            Err(err) => eprintln!("echo upstream: {err}"),
        }
    }
}

fn answer(mut request: Request, content_type: Header) {
    // Read the body so the next request on a keep-alive connection starts where it should.
    let _ = io::copy(request.as_reader(), &mut io::sink());
    let body = describe(&request).to_string();
    // A client that hung up before the answer only affects itself.
    let _ = request.respond(Response::from_string(body).with_header(content_type));
}

#[cfg(test)]
mod tests {
    use std::{
        io::{BufRead, BufReader, Write},
        net::TcpStream,
        time::Duration,
    };

    use super::*;

    /// Reads one response with a Content-Length body: (status line, headers, body).
    fn read_response(reader: &mut impl BufRead) -> (String, Vec<(String, String)>, Value) {
        let mut status = String::new();
        reader.read_line(&mut status).unwrap();
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_ascii_lowercase(), value.trim().to_owned()));
        }
        let length: usize = headers
            .iter()
            .find(|(name, _)| name == "content-length")
            .map(|(_, value)| value.parse().unwrap())
            .unwrap();
        let mut body = vec![0; length];
        reader.read_exact(&mut body).unwrap();
        (
            status.trim_end().to_owned(),
            headers,
            serde_json::from_slice(&body).unwrap(),
        )
    }

    fn connect(port: u16) -> TcpStream {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream
    }

    #[test]
    fn answers_with_method_raw_target_and_every_header_in_order() {
        let port = spawn("127.0.0.1:0").unwrap();
        let mut stream = connect(port);
        let request = "GET /api/items?id=7&x=%2F HTTP/1.1\r\n\
                       Host: upstream\r\n\
                       X-Dup: one\r\n\
                       Authorization: Bearer abc\r\n\
                       x-dup: two\r\n\
                       Connection: close\r\n\r\n";
        stream.write_all(request.as_bytes()).unwrap();
        let (status, headers, body) = read_response(&mut BufReader::new(stream));

        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(headers.contains(&("content-type".into(), "application/json".into())));
        assert_eq!(
            body,
            json!({
                "method": "GET",
                "path": "/api/items?id=7&x=%2F",
                "headers": [
                    ["host", "upstream"],
                    ["x-dup", "one"],
                    ["authorization", "Bearer abc"],
                    ["x-dup", "two"],
                    ["connection", "close"],
                ],
            })
        );
    }

    #[test]
    fn serves_several_requests_on_one_keep_alive_connection() {
        let port = spawn("127.0.0.1:0").unwrap();
        let stream = connect(port);
        let mut writer = stream.try_clone().unwrap();
        let mut reader = BufReader::new(stream);
        for (method, path) in [("POST", "/first"), ("DELETE", "/second")] {
            let request = format!(
                "{method} {path} HTTP/1.1\r\nHost: upstream\r\nContent-Length: 5\r\n\r\nhello"
            );
            writer.write_all(request.as_bytes()).unwrap();
            let (status, _, body) = read_response(&mut reader);
            assert_eq!(status, "HTTP/1.1 200 OK", "{path}");
            assert_eq!(body["method"], method);
            assert_eq!(body["path"], path);
        }
    }

    #[test]
    fn a_taken_address_is_a_clear_error() {
        let port = spawn("127.0.0.1:0").unwrap();
        let err = spawn(&format!("127.0.0.1:{port}")).unwrap_err();
        assert!(err.to_string().contains("cannot listen on"), "{err}");
    }
}
