//! A webhook receiver on 127.0.0.1 for the tests: it answers by plan and verifies every
//! request's signature with the Standard Webhooks reference crate (`standardwebhooks`), which
//! this project did not write.

use std::{
    collections::VecDeque,
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::{net::TcpListener, task::JoinHandle};

/// One request the receiver got, and which of its secrets verify it.
#[derive(Debug, Clone)]
pub struct Received {
    pub message_id: String,
    pub signatures: usize,
    pub body: Value,
    /// For each secret known when it arrived, whether `standardwebhooks` verifies it.
    pub verified: Vec<bool>,
}

#[derive(Default)]
struct ReceiverState {
    secrets: Vec<String>,
    /// Statuses to answer with, in order; then `otherwise`.
    plan: VecDeque<u16>,
    otherwise: u16,
    received: Vec<Received>,
}

/// A webhook receiver on 127.0.0.1: answers by plan and checks every signature.
pub struct Receiver {
    pub addr: SocketAddr,
    state: Arc<Mutex<ReceiverState>>,
    task: JoinHandle<()>,
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn locked<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

impl Receiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(ReceiverState {
            otherwise: 204,
            ..Default::default()
        }));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = shared.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |request| receive(state.clone(), request));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state, task }
    }

    pub fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    pub fn trust(&self, secret: &str) {
        locked(&self.state).secrets.push(secret.to_owned());
    }

    pub fn answer(&self, plan: &[u16], otherwise: u16) {
        let mut state = locked(&self.state);
        state.plan = plan.iter().copied().collect();
        state.otherwise = otherwise;
    }

    pub fn received(&self) -> Vec<Received> {
        locked(&self.state).received.clone()
    }

    /// Waits until `count` requests arrived (failing after 20 s), then returns them.
    pub async fn wait_for(&self, count: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let received = self.received();
            if received.len() >= count {
                return received;
            }
            assert!(
                Instant::now() < deadline,
                "{} requests received, {count} expected: {received:?}",
                received.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

async fn receive(
    state: Arc<Mutex<ReceiverState>>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let (parts, body) = request.into_parts();
    let bytes = body
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "application/json");
    let mut state = locked(&state);
    let verified = state
        .secrets
        .iter()
        .map(|secret| {
            standardwebhooks::Webhook::new(secret)
                .unwrap()
                .verify(&bytes, &parts.headers)
                .is_ok()
        })
        .collect();
    state.received.push(Received {
        message_id: header("webhook-id"),
        signatures: header("webhook-signature").split(' ').count(),
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        verified,
    });
    let status = state.plan.pop_front().unwrap_or(state.otherwise);
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = hyper::StatusCode::from_u16(status).unwrap();
    if status == 503 {
        response
            .headers_mut()
            .insert("retry-after", hyper::header::HeaderValue::from_static("0"));
    }
    Ok(response)
}

/// Every request verified with each secret known when it arrived.
pub fn all_verified(received: &[Received]) {
    for r in received {
        assert!(
            r.verified.iter().all(|ok| *ok) && !r.verified.is_empty(),
            "{r:?}"
        );
    }
}
