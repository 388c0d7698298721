//! Serving HTTP/1.1 on a bound listener, with the protections poem's `Server` does not
//! expose: hyper's header-read timeout (a connection must send a complete request head
//! within `header_read_timeout` of opening or of its previous response, which also closes
//! idle keep-alive connections), `Connection: close` on every response while the service
//! drains (see `drain`), and a graceful shutdown that stops accepting, lets in-flight
//! requests finish within a grace period, then closes what is left.
//!
//! HTTP/1.1 only: a reverse proxy or load balancer in front speaks HTTP/2 to clients; an
//! HTTP/2 connection would bypass the header timeout.

use std::{convert::Infallible, future::Future, net::SocketAddr, sync::Arc, time::Duration};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::{
    rt::{TokioIo, TokioTimer},
    server::graceful::GracefulShutdown,
};
use poem::{
    Endpoint, EndpointExt, Request,
    http::{HeaderValue, header, uri::Scheme},
    web::{LocalAddr, RemoteAddr},
};
use tokio::{net::TcpListener, task::JoinSet};

use crate::drain::Draining;

/// A response body as poem hands it to hyper.
type Body = BoxBody<Bytes, std::io::Error>;

pub struct Limits {
    pub header_read_timeout: Duration,
    pub shutdown_grace: Duration,
}

/// Serves `app` on `listener` until `shutdown` resolves, then shuts down gracefully. While
/// `draining`, every response closes its connection after it is sent.
pub async fn serve(
    listener: TcpListener,
    local_addr: SocketAddr,
    app: impl Endpoint + 'static,
    limits: Limits,
    draining: Draining,
    shutdown: impl Future<Output = ()>,
) {
    let app = Arc::new(app.map_to_response().boxed());
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, remote)) => {
                    // Small JSON responses: send them now rather than wait for more data.
                    let _ = stream.set_nodelay(true);
                    let app = app.clone();
                    let draining = draining.clone();
                    let service = service_fn(move |request: hyper::Request<Incoming>| {
                        let app = app.clone();
                        let draining = draining.clone();
                        async move {
                            let (local, remote) = (LocalAddr(local_addr.into()), RemoteAddr(remote.into()));
                            let request = Request::from((request, local, remote, Scheme::HTTP));
                            let mut response: hyper::Response<Body> =
                                app.get_response(request).await.into();
                            // hyper closes the connection once this response is written: the
                            // client's next request opens a new connection, to a ready replica.
                            if draining.is_draining() {
                                response
                                    .headers_mut()
                                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                            }
                            Ok::<_, Infallible>(response)
                        }
                    });
                    let connection = http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(limits.header_read_timeout)
                        .serve_connection(TokioIo::new(stream), service);
                    let connection = graceful.watch(connection);
                    connections.spawn(async move {
                        // Timeouts and resets end connections with an error: nothing to do.
                        if let Err(err) = connection.await {
                            tracing::debug!(error = %err, %remote, "connection closed");
                        }
                    });
                }
                // Out of file descriptors, for instance: keep serving those already open.
                Err(err) => {
                    tracing::warn!(error = %err, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace = ?limits.shutdown_grace,
            "requests still running after the grace period: closing their connections"
        );
    }
    connections.shutdown().await;
}
