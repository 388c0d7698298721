//! The one place that builds the service: database, routes, middleware, listener.
//! `main.rs` and the integration tests both start the service through [`Application`].

use std::{future::Future, net::SocketAddr, sync::Arc};

use poem::{
    Endpoint, EndpointExt, Route,
    http::Method,
    middleware::{CatchPanic, NormalizePath, TrailingSlash},
};
use tokio::net::TcpListener;

use crate::{
    api,
    config::Settings,
    db::{self, ConnectError, Db, schema::SchemaError},
    http::{
        body_limit::BodyLimit,
        cors::Cors,
        problem_details::{ProblemDetails, panic_response},
        request_timeout::RequestTimeout,
        spec::ApiDocument,
    },
    server::{self, Limits},
    telemetry::request_log::RequestLog,
};

/// Everything that can stop the service from starting.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Database(#[from] ConnectError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

/// The routes and middleware, around a connected database.
pub fn routes(db: Db, settings: &Settings) -> impl Endpoint + 'static {
    let service = api::service(db);
    let document = ApiDocument::new(&service);
    let cors_origins = &settings.server.cors_allowed_origins;
    let mut routes = document.routes();
    routes.add("/docs", vec![Method::GET]);
    routes.add("/openapi.json", vec![Method::GET]);
    Route::new()
        .nest("/", service)
        .at("/docs", document.swagger_ui())
        .at("/openapi.json", document.spec_endpoint())
        .with(BodyLimit(settings.server.request_body_limit))
        .with(RequestTimeout(settings.server.request_timeout()))
        .with(ProblemDetails(Arc::new(routes)))
        // `/notes/` and `/notes` are the same route, without a redirect.
        .with(NormalizePath::new(TrailingSlash::Trim))
        .with(CatchPanic::new().with_handler(panic_response))
        // Outside the panic catcher, so that even a 500 is readable by the browser.
        .with_if(!cors_origins.is_empty(), Cors::new(cors_origins))
        .with(RequestLog)
}

/// A service ready to run: database connected and migrated (or checked), port bound.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    db: Db,
    settings: Settings,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        let db = db::connect(&settings.database, settings.server.request_timeout()).await?;
        db::schema::prepare(db.pool(), &settings.database).await?;
        let (listener, local_addr) = listen(&settings.server.host, settings.server.port)
            .await
            .map_err(|source| StartupError::Bind {
                address: format!("{}:{}", settings.server.host, settings.server.port),
                source,
            })?;
        Ok(Self {
            listener,
            local_addr,
            db,
            settings,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Serves until `shutdown` resolves, then stops accepting, lets in-flight requests finish
    /// within the grace period, and closes the pool.
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        let app = routes(self.db.clone(), &self.settings);
        let limits = Limits {
            header_read_timeout: self.settings.server.header_read_timeout(),
            shutdown_grace: self.settings.server.shutdown_grace(),
        };
        server::serve(self.listener, self.local_addr, app, limits, shutdown).await;
        if let Err(err) = self.db.pool().close_by_ref().await {
            tracing::warn!(error = %err, "closing the database pool failed");
        }
    }
}

async fn listen(host: &str, port: u16) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind((host, port)).await?;
    let local_addr = listener.local_addr()?;
    Ok((listener, local_addr))
}
