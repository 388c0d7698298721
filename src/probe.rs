//! `notes-service healthcheck`: asks a running service whether it is ready, over plain
//! HTTP/1.0 on loopback, so a container image needs no curl or wget.

use std::time::Duration;

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

const TIMEOUT: Duration = Duration::from_secs(3);

/// Ok when `GET /health/ready` on 127.0.0.1:`port` answers 200 within a few seconds.
pub async fn ready(port: u16) -> Result<(), String> {
    match tokio::time::timeout(TIMEOUT, status_of(port, "/health/ready")).await {
        Ok(Ok(200)) => Ok(()),
        Ok(Ok(status)) => Err(format!("/health/ready answered {status}")),
        Ok(Err(err)) => Err(format!("cannot reach 127.0.0.1:{port}: {err}")),
        Err(_) => Err(format!(
            "no answer from 127.0.0.1:{port} within {TIMEOUT:?}"
        )),
    }
}

async fn status_of(port: u16, path: &str) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).await?;
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    stream.write_all(request.as_bytes()).await?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).await?;
    // "HTTP/1.1 200"
    std::str::from_utf8(&head[9..12])
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other("not an HTTP response"))
}
