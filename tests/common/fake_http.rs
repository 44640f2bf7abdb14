//! A server speaking just enough HTTP/1.1 to play a peer badly, for fault injection: chosen
//! statuses and headers, slow answers, and connections dropped in the middle of a request body.
//! Each request is logged with its headers and body for the test to read back.

use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

pub enum Reply {
    /// Status and JSON body.
    Json(u16, String),
    /// Status, extra headers, body.
    With(u16, Vec<(&'static str, String)>, String),
    /// Wait, then answer.
    After(Duration, u16, String),
    /// Read half the body, then close the connection without answering.
    DropMidBody,
}

/// Gets each request and how many requests to the counted path came before it.
pub type Handler = dyn Fn(&Request, usize) -> Reply + Send + Sync;

pub struct Server {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<Request>>>,
    counted: &'static str,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    /// The requests to the counted path (`/_bulk`, `/loki/api/v1/push`...) that were answered.
    pub fn counted(&self) -> Vec<Request> {
        self.requests.lock().unwrap().iter().filter(|r| r.path.starts_with(self.counted)).cloned().collect()
    }
}

/// Serve on `port`; `counted` is the path prefix of the requests that matter (the handler is
/// told how many of them came before).
pub fn serve(port: u16, counted: &'static str, handler: Box<Handler>) -> Server {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let requests: Arc<Mutex<Vec<Request>>> = Arc::default();
    let listener = runtime.block_on(tokio::net::TcpListener::bind(("127.0.0.1", port))).unwrap();
    let handler: Arc<Handler> = Arc::from(handler);
    let log = requests.clone();
    runtime.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { continue };
            let handler = handler.clone();
            let log = log.clone();
            tokio::spawn(async move {
                let _ = connection(stream, counted, handler, log).await;
            });
        }
    });
    Server { port, requests, counted, _runtime: runtime }
}

async fn connection(mut stream: tokio::net::TcpStream, counted: &str, handler: Arc<Handler>, log: Arc<Mutex<Vec<Request>>>) -> std::io::Result<()> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 8192];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
        let mut first = head.lines().next().unwrap_or("").split(' ');
        let method = first.next().unwrap_or("").to_string();
        let path = first.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string())))
            .collect();
        let length: usize = headers.iter().find(|(k, _)| k == "content-length").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
        let before = log.lock().unwrap().iter().filter(|r| r.path.starts_with(counted)).count();
        let probe = Request { method: method.clone(), path: path.clone(), headers: headers.clone(), body: Vec::new() };
        if let Reply::DropMidBody = handler(&probe, before) {
            while buf.len() < head_end + length / 2 {
                let mut chunk = [0u8; 8192];
                let n = stream.read(&mut chunk).await?;
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            log.lock().unwrap().push(Request { method, path: format!("{path} (dropped)"), headers, body: Vec::new() });
            return Ok(());
        }
        while buf.len() < head_end + length {
            let mut chunk = [0u8; 65536];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = buf[head_end..head_end + length].to_vec();
        buf.drain(..head_end + length);
        let request = Request { method, path, headers, body };
        // The real answer is computed with the body (item statuses depend on it).
        let reply = handler(&request, before);
        log.lock().unwrap().push(request);
        let (status, extra, text) = match reply {
            Reply::Json(s, t) => (s, Vec::new(), t),
            Reply::With(s, h, t) => (s, h, t),
            Reply::After(d, s, t) => {
                tokio::time::sleep(d).await;
                (s, Vec::new(), t)
            }
            Reply::DropMidBody => unreachable!(),
        };
        let extra: String = extra.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
        let response = format!("HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n{extra}content-length: {}\r\n\r\n{text}", text.len());
        stream.write_all(response.as_bytes()).await?;
    }
}
