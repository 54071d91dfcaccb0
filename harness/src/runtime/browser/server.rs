//! The loopback HTTP server the browser runtimes' pages come from: 127.0.0.1 on a port the kernel picks, GET
//! only, every response with the cross-origin isolation headers (COOP `same-origin`, COEP `require-corp`,
//! CORP `same-origin`), so `performance.now()` has its fine resolution, and `no-store`, so no page or module
//! is cached between cold starts. It serves the page, the in-page runner (`workloads/js/browser.js`), the
//! JavaScript ports and the workloads' Wasm modules, from a fixed table: nothing else on disk is reachable.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The page every browser invocation opens.
const PAGE: &str =
    "<!doctype html><meta charset=\"utf-8\"><title>harness</title><script src=\"/harness.js\"></script>\n";

/// What one path serves: a file read at each request, or bytes.
#[derive(Debug, Clone)]
pub enum Served {
    File(PathBuf),
    Bytes(&'static str),
}

pub struct PageServer {
    port: u16,
    routes: Arc<Mutex<BTreeMap<String, Served>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl PageServer {
    /// Serves `routes` (path -> what) plus `/` (the page) on 127.0.0.1.
    pub fn start(mut routes: BTreeMap<String, Served>) -> std::io::Result<PageServer> {
        routes.insert("/".into(), Served::Bytes(PAGE));
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let routes = Arc::new(Mutex::new(routes));
        let served = Arc::clone(&routes);
        let thread = std::thread::Builder::new().name("page-server".into()).spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::Relaxed) {
                    break;
                }
                // A thread per connection: a browser opens several at once, and may hold one idle.
                if let Ok(stream) = stream {
                    let routes = Arc::clone(&served);
                    let _ = std::thread::Builder::new()
                        .name("page-request".into())
                        .spawn(move || serve(stream, &routes));
                }
            }
        })?;
        Ok(PageServer {
            port,
            routes,
            stop,
            thread: Some(thread),
        })
    }

    /// Serves `routes` too, from now on.
    pub fn add(&self, routes: BTreeMap<String, Served>) {
        self.routes.lock().unwrap_or_else(|p| p.into_inner()).extend(routes);
    }

    /// The page's address.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for PageServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Answers one request of a connection, then closes it.
fn serve(stream: TcpStream, routes: &Mutex<BTreeMap<String, Served>>) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        // Headers up to the blank line; requests carry no body (GET only).
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
                break;
            }
        }
        let mut parts = request_line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let path = path.split('?').next().unwrap_or("");
        let route = routes.lock().unwrap_or_else(|p| p.into_inner()).get(path).cloned();
        let (status, kind, body) = match (method, route.as_ref()) {
            ("GET", Some(Served::Bytes(text))) => ("200 OK", content_type(path), text.as_bytes().to_vec()),
            ("GET", Some(Served::File(file))) => match std::fs::read(file) {
                Ok(bytes) => ("200 OK", content_type(path), bytes),
                Err(_) => ("404 Not Found", "text/plain", b"missing".to_vec()),
            },
            ("GET", None) => ("404 Not Found", "text/plain", b"not served".to_vec()),
            _ => ("405 Method Not Allowed", "text/plain", b"GET only".to_vec()),
        };
        let head = format!(
            "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
             Cross-Origin-Opener-Policy: same-origin\r\nCross-Origin-Embedder-Policy: require-corp\r\n\
             Cross-Origin-Resource-Policy: same-origin\r\nConnection: close\r\n\r\n",
            body.len()
        );
        out.write_all(head.as_bytes())?;
        out.write_all(&body)?;
        out.flush()?;
    }
    let _ = out.shutdown(Shutdown::Both);
    Ok(())
}

fn content_type(path: &str) -> &'static str {
    if path.ends_with(".wasm") {
        "application/wasm"
    } else if path.ends_with(".js") {
        "text/javascript; charset=utf-8"
    } else {
        "text/html; charset=utf-8"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn serves_its_table_with_isolation_headers_and_nothing_else() {
        let server = PageServer::start(BTreeMap::from([("/x.js".to_string(), Served::Bytes("1;"))])).unwrap();
        let get = |path: &str| {
            let mut s = TcpStream::connect(("127.0.0.1", server.port)).unwrap();
            write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let mut text = String::new();
            s.read_to_string(&mut text).unwrap();
            text
        };
        let page = get("/");
        assert!(page.starts_with("HTTP/1.1 200 OK") && page.contains("Cross-Origin-Embedder-Policy: require-corp"));
        assert!(page.contains("Cross-Origin-Opener-Policy: same-origin") && page.contains("/harness.js"));
        assert!(get("/x.js").ends_with("\r\n\r\n1;"));
        assert!(get("/../../etc/passwd").starts_with("HTTP/1.1 404"));
    }
}
