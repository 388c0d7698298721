//! The one place that builds the service: database, routes, middleware, listeners.
//! `main.rs` and the integration tests both start the service through [`Application`].

use std::{future::Future, net::SocketAddr, sync::Arc};

use poem::{
    Endpoint, EndpointExt, Route,
    http::Method,
    middleware::{CatchPanic, NormalizePath, TrailingSlash},
};
use tokio::{
    net::{TcpListener, ToSocketAddrs},
    sync::watch,
};

use crate::{
    api,
    auth::{AuthState, Authenticator},
    config::Settings,
    db::{self, ConnectError, Db, checkpoint::Checkpointer, schema::SchemaError},
    drain::Draining,
    health::{HealthApi, Readiness},
    http::{
        body_limit::BodyLimit,
        cors::Cors,
        idempotency::IdempotencyPolicy,
        problem_details::{ProblemDetails, panic_response},
        request_timeout::RequestTimeout,
        route_table::RouteTable,
        spec::ApiDocument,
    },
    job_kinds,
    jobs::{Queue, Wake},
    metrics::{self, Metrics, requests::RecordRequests},
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
    #[error("jobs.workers is 0: a worker process would run no jobs")]
    NoWorkers,
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
}

/// How the service is told to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM: drain for `server.drain_seconds` (readiness 503, `Connection: close`, still
    /// accepting), then close the listeners and let in-flight requests finish.
    Drain,
    /// Ctrl-C: close the listeners at once and let in-flight requests finish.
    Now,
}

/// The routes and middleware, around a connected database. `metrics`: `None` when disabled;
/// `auth`: the authenticator, when authentication is on.
pub fn routes(
    db: Db,
    settings: &Settings,
    metrics: Option<Arc<Metrics>>,
    draining: Draining,
    auth: AuthState,
    wake: Wake,
) -> impl Endpoint + 'static {
    let (_, warm_connections) = db::pool_size(&settings.database);
    let readiness = Readiness::new(db.clone(), draining, warm_connections);
    let service = api::service(db, readiness, settings.webhooks.clone());
    let document = ApiDocument::new(&service, settings);
    let idempotency = IdempotencyPolicy {
        required: settings.idempotency.required,
        ttl: settings.idempotency.ttl(),
        metrics: metrics.as_ref().map(|m| m.idempotency().clone()),
    };
    let cors_origins = &settings.server.cors_allowed_origins;
    let mut routes = document.routes();
    routes.add("/docs", vec![Method::GET]);
    routes.add("/openapi.json", vec![Method::GET]);
    // With `metrics.address` set, /metrics is served there only.
    let metrics_here = metrics
        .clone()
        .filter(|_| matches!(settings.metrics.listen_address(), Ok(None)));
    if metrics_here.is_some() {
        routes.add(metrics::endpoint::PATH, vec![Method::GET]);
    }
    let routes = Arc::new(routes);
    let mut route = Route::new()
        .nest("/", service)
        .at("/docs", document.swagger_ui())
        .at("/openapi.json", document.spec_endpoint());
    if let Some(metrics_here) = metrics_here {
        route = route.at(
            metrics::endpoint::PATH,
            metrics::endpoint::endpoint(metrics_here),
        );
    }
    route
        // Every `Caller` parameter finds the authenticator here, every `IdempotencyKey` its
        // policy; a handler that enqueues jobs wakes the workers with `Data<&Wake>`.
        .data(auth)
        .data(idempotency)
        .data(wake)
        .with(BodyLimit(settings.server.request_body_limit))
        .with(RequestTimeout(settings.server.request_timeout()))
        .with(ProblemDetails(routes.clone()))
        // `/notes/` and `/notes` are the same route, without a redirect.
        .with(NormalizePath::new(TrailingSlash::Trim))
        .with(CatchPanic::new().with_handler(panic_response))
        // Outside the panic catcher, so that even a 500 is readable by the browser.
        .with_if(!cors_origins.is_empty(), Cors::new(cors_origins))
        // Outside all but the log line: it sees the final status and the whole latency.
        .with(RecordRequests::new(metrics, routes.clone()))
        .with(RequestLog::new(routes))
}

/// What a process serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The API (and, unless `jobs.workers` is 0, job workers).
    Api,
    /// Job workers only (`notes-service worker`): no API; the health probes and `/metrics`.
    Worker,
}

/// What a worker process serves: the health probes, and `/metrics` unless it has a listener
/// of its own; the same problem responses, request metrics and log lines as the API.
pub fn worker_routes(
    db: Db,
    settings: &Settings,
    metrics: Option<Arc<Metrics>>,
    draining: Draining,
) -> impl Endpoint + 'static {
    let (_, warm_connections) = db::pool_size(&settings.database);
    let readiness = Readiness::new(db, draining, warm_connections);
    let health = poem_openapi::OpenApiService::new(
        HealthApi::new(readiness),
        "notes-service worker",
        env!("CARGO_PKG_VERSION"),
    );
    let mut routes = RouteTable::default();
    routes.add("/health/live", vec![Method::GET]);
    routes.add("/health/ready", vec![Method::GET]);
    let metrics_here = metrics
        .clone()
        .filter(|_| matches!(settings.metrics.listen_address(), Ok(None)));
    if metrics_here.is_some() {
        routes.add(metrics::endpoint::PATH, vec![Method::GET]);
    }
    let routes = Arc::new(routes);
    let mut route = Route::new().nest("/", health);
    if let Some(metrics_here) = metrics_here {
        route = route.at(
            metrics::endpoint::PATH,
            metrics::endpoint::endpoint(metrics_here),
        );
    }
    route
        .with(ProblemDetails(routes.clone()))
        .with(CatchPanic::new().with_handler(panic_response))
        .with(RecordRequests::new(metrics, routes.clone()))
        .with(RequestLog::new(routes))
}

/// A service ready to run: database connected and migrated (or checked), ports bound.
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    /// The separate metrics listener (`metrics.address`), when there is one.
    metrics_listener: Option<(TcpListener, SocketAddr)>,
    metrics: Option<Arc<Metrics>>,
    auth: Option<Arc<Authenticator>>,
    db: Db,
    settings: Settings,
    draining: Draining,
    /// Wakes this process's job workers.
    wake: Wake,
    role: Role,
    /// SQLite: checkpoints the write-ahead log off the request path.
    checkpointer: Option<Checkpointer>,
}

impl Application {
    /// The API service.
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_as(settings, Role::Api).await
    }

    /// A process of job workers only (`notes-service worker`); `jobs.workers` must not be 0.
    pub async fn build_worker(settings: Settings) -> Result<Self, StartupError> {
        if settings.jobs.workers == 0 {
            return Err(StartupError::NoWorkers);
        }
        Self::build_as(settings, Role::Worker).await
    }

    async fn build_as(settings: Settings, role: Role) -> Result<Self, StartupError> {
        let db = db::connect(&settings.database, settings.server.request_timeout()).await?;
        db::schema::prepare(&db, &settings.database).await?;
        let checkpointer = Checkpointer::open(&settings.database).await?;
        let (listener, local_addr) = listen((settings.server.host.as_str(), settings.server.port))
            .await
            .map_err(|source| StartupError::Bind {
                address: format!("{}:{}", settings.server.host, settings.server.port),
                source,
            })?;
        let metrics = settings.metrics.enabled.then(|| Metrics::new(db.clone()));
        let auth_failures = metrics.as_ref().map(|m| m.auth_failures().clone());
        let auth = Authenticator::start(&settings.auth, auth_failures);
        let metrics_listener = match settings.metrics.listen_address() {
            Ok(Some(address)) if metrics.is_some() => {
                Some(listen(address).await.map_err(|source| StartupError::Bind {
                    address: address.to_string(),
                    source,
                })?)
            }
            _ => None,
        };
        Ok(Self {
            listener,
            local_addr,
            metrics_listener,
            metrics,
            auth,
            db,
            settings,
            draining: Draining::default(),
            wake: Wake::default(),
            role,
            checkpointer,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Where the separate metrics listener is bound (`metrics.address`), if there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener.as_ref().map(|(_, address)| *address)
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Wakes this process's job workers (call it after committing enqueued jobs).
    pub fn wake(&self) -> &Wake {
        &self.wake
    }

    /// Serves until `shutdown` resolves, then stops as on SIGTERM ([`Stop::Drain`]).
    pub async fn run_until(self, shutdown: impl Future<Output = ()>) {
        self.run_until_stop(async {
            shutdown.await;
            Stop::Drain
        })
        .await;
    }

    /// Serves until `stop` resolves; then drains if it says so (and `server.drain_seconds`
    /// is not 0), stops accepting (on every listener), lets in-flight requests finish within
    /// the grace period, and closes the pool.
    pub async fn run_until_stop(self, stop: impl Future<Output = Stop>) {
        let draining = self.draining.clone();
        let app = match self.role {
            Role::Api => routes(
                self.db.clone(),
                &self.settings,
                self.metrics.clone(),
                draining.clone(),
                AuthState(self.auth.clone()),
                self.wake.clone(),
            )
            .map_to_response()
            .boxed(),
            Role::Worker => worker_routes(
                self.db.clone(),
                &self.settings,
                self.metrics.clone(),
                draining.clone(),
            )
            .map_to_response()
            .boxed(),
        };
        let limits = || Limits {
            header_read_timeout: self.settings.server.header_read_timeout(),
            shutdown_grace: self.settings.server.shutdown_grace(),
        };
        let (close, closing) = watch::channel(false);
        // The job workers run through the drain, and get the shutdown grace period once the
        // listener closes.
        let queue = (self.settings.jobs.workers > 0).then(|| {
            Queue::start(
                self.db.clone(),
                job_kinds::registry(&self.db, &self.settings, self.metrics.as_deref()),
                &self.settings.jobs,
                self.wake.clone(),
                self.metrics.as_ref().map(|m| m.jobs().clone()),
            )
        });
        let jobs_closing = closing.clone();
        let grace = self.settings.server.shutdown_grace();
        let jobs = async move {
            if let Some(queue) = queue {
                stopped(jobs_closing).await;
                queue.shutdown(grace).await;
            }
        };
        let main = server::serve(
            self.listener,
            self.local_addr,
            app,
            limits(),
            draining.clone(),
            stopped(closing.clone()),
        );
        let side = async {
            if let (Some((listener, address)), Some(metrics)) =
                (self.metrics_listener, self.metrics)
            {
                // Scrapes are not balanced: no need to ask their connections to close.
                let app = metrics::endpoint::standalone(metrics);
                let draining = Draining::default();
                server::serve(listener, address, app, limits(), draining, stopped(closing)).await;
            }
        };
        let checkpoints = self.checkpointer.map(Checkpointer::start);
        // Expired idempotency keys go in the background, until the service stops.
        let purge = db::idempotency::purge_in_background(
            self.db.clone(),
            self.settings.idempotency.purge_interval(),
            self.settings.idempotency.purge_batch,
        );
        let drain = self.settings.server.drain();
        let signal = async move {
            let how = stop.await;
            // Readiness fails from now on, whether or not there is time to drain.
            draining.begin();
            if how == Stop::Drain && !drain.is_zero() {
                tracing::info!(
                    ?drain,
                    "draining: /health/ready answers 503 and every response closes its \
                     connection; still accepting"
                );
                tokio::time::sleep(drain).await;
            }
            tracing::info!("closing the listener; finishing in-flight requests");
            let _ = close.send(true);
        };
        tokio::join!(signal, main, side, jobs);
        purge.abort();
        if let Some(checkpoints) = checkpoints {
            checkpoints.abort();
        }
        if let Err(err) = self.db.pool().close_by_ref().await {
            tracing::warn!(error = %err, "closing the database pool failed");
        }
    }
}

/// Resolves once the service is told to stop (or the sender is gone).
async fn stopped(mut stopping: watch::Receiver<bool>) {
    let _ = stopping.wait_for(|stop| *stop).await;
}

async fn listen(address: impl ToSocketAddrs) -> std::io::Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind(address).await?;
    let local_addr = listener.local_addr()?;
    Ok((listener, local_addr))
}
