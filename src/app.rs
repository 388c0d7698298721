//! The one place that builds the service: database, routes, middleware, listener.
//! `main.rs` and the integration tests both start the service through [`Application`].

use std::{future::Future, net::SocketAddr, sync::Arc};

use poem::{
    Endpoint, EndpointExt, Route, Server,
    http::Method,
    listener::TcpAcceptor,
    middleware::{CatchPanic, NormalizePath, TrailingSlash},
};
use sea_orm::DatabaseConnection;

use crate::{
    api::{self, body::BodyLimit},
    config::Settings,
    db::{self, StartupError},
    error::{ProblemDetails, RouteTable, panic_response},
    telemetry::RequestLog,
};

/// The routes and middleware, around a connected database.
pub fn routes(db: DatabaseConnection, settings: &Settings) -> impl Endpoint + 'static {
    let service = api::service(db);
    let docs = service.swagger_ui();
    let spec = service.spec_endpoint();
    let mut table = RouteTable::from_spec(&service.spec());
    table.add("/docs", vec![Method::GET]);
    table.add("/openapi.json", vec![Method::GET]);
    Route::new()
        .nest("/", service)
        .nest("/docs", docs)
        .at("/openapi.json", spec)
        .with(BodyLimit(settings.server.request_body_limit))
        .with(ProblemDetails(Arc::new(table)))
        // `/notes/` and `/notes` are the same route, without a redirect.
        .with(NormalizePath::new(TrailingSlash::Trim))
        .with(CatchPanic::new().with_handler(panic_response))
        .with(RequestLog)
}

/// A service ready to run: database connected and migrated (or checked), port bound.
pub struct Application {
    acceptor: TcpAcceptor,
    local_addr: SocketAddr,
    db: DatabaseConnection,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let db = db::connect(&settings.database).await?;
        db::prepare_schema(&db, settings.database.auto_migrate).await?;
        let address = (settings.server.host.as_str(), settings.server.port);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| StartupError::Bind {
                address: format!("{}:{}", settings.server.host, settings.server.port),
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| StartupError::Bind {
            address: settings.server.host.clone(),
            source,
        })?;
        let acceptor = TcpAcceptor::from_tokio(listener).map_err(|source| StartupError::Bind {
            address: local_addr.to_string(),
            source,
        })?;
        Ok(Self {
            acceptor,
            local_addr,
            db,
            settings,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish
    /// within the grace period, and closes the pool.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) -> std::io::Result<()> {
        let app = routes(self.db.clone(), &self.settings);
        let grace = self.settings.server.shutdown_grace();
        let served = Server::new_with_acceptor(self.acceptor)
            .run_with_graceful_shutdown(app, shutdown, Some(grace))
            .await;
        if let Err(err) = self.db.close().await {
            tracing::warn!(error = %err, "closing the database pool failed");
        }
        served
    }
}
