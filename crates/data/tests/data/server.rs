//! A tiny HTTP/1.1 server on 127.0.0.1 for the download tests.
//!
//! It serves fixed bodies by path, answers at most `max_requests` requests, and stops by itself
//! after that or after a deadline, whichever comes first: a test that fails cannot leave it
//! running.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// A running server; `base` is its URL with a trailing slash.
pub struct Server {
    pub base: String,
    handle: JoinHandle<Vec<String>>,
}

impl Server {
    /// Serves `routes` (path such as `/x.gz`, body); any other path gets a 404.
    pub fn start(routes: Vec<(String, Vec<u8>)>, max_requests: usize) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}/", listener.local_addr().unwrap());
        let handle = thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(60);
            let mut requested = Vec::new();
            while requested.len() < max_requests && Instant::now() < deadline {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(path) = answer(stream, &routes) {
                            requested.push(path);
                        }
                    }
                    Err(_) => thread::sleep(Duration::from_millis(5)),
                }
            }
            requested
        });
        Server { base, handle }
    }

    /// Waits for the server to stop and returns the paths it was asked for.
    pub fn requests(self) -> Vec<String> {
        self.handle.join().unwrap()
    }
}

/// A base URL where nothing listens: bind a port, then free it.
pub fn dead_mirror() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    format!("http://{}/", listener.local_addr().unwrap())
}

fn answer(mut stream: TcpStream, routes: &[(String, Vec<u8>)]) -> Option<String> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    // Read the request head (bounded); the body of a GET is empty.
    let mut head = Vec::new();
    let mut byte = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        let n = stream.read(&mut byte).ok()?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&byte[..n]);
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1)?.to_string();
    let response = match routes.iter().find(|(p, _)| *p == path) {
        Some((_, body)) => {
            let mut r = format!(
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
                body.len()
            )
            .into_bytes();
            r.extend_from_slice(body);
            r
        }
        None => {
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
        }
    };
    let _ = stream.write_all(&response);
    let _ = stream.flush();
    Some(path)
}
