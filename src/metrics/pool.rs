//! The database pool's gauges, read from the pool at each scrape (not sampled on a timer).

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, EncodeMetric},
    metrics::{MetricType, gauge::ConstGauge},
};

use crate::db::Db;

pub struct PoolCollector {
    db: Db,
}

impl PoolCollector {
    pub fn new(db: Db) -> Self {
        Self { db }
    }
}

impl std::fmt::Debug for PoolCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PoolCollector")
    }
}

impl Collector for PoolCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(stats) = self.db.pool_stats() else {
            return Ok(());
        };
        // HELP texts end with a period, as the registry writes those of registered metrics.
        let mut gauge = |name: &str, help: &str, value: u32| {
            let metric = ConstGauge::new(value);
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
        };
        gauge(
            "db_pool_size",
            "Open database connections, idle or in use.",
            stats.size,
        )?;
        gauge(
            "db_pool_max_connections",
            "The most connections the pool opens (database.max_connections).",
            stats.max,
        )?;
        gauge(
            "db_calls_in_flight",
            "Database calls waiting for a pooled connection or holding one.",
            stats.calls_in_flight,
        )?;
        gauge(
            "db_pool_waiting_estimate",
            "Estimated database calls waiting for a connection: calls in flight minus \
             connections in use (the driver does not count its waiters); reads low while \
             explicitly begun transactions hold connections.",
            stats.waiting_estimate(),
        )?;
        let mut connections = encoder.encode_descriptor(
            "db_pool_connections",
            "Open database connections by state.",
            None,
            MetricType::Gauge,
        )?;
        for (state, value) in [("idle", stats.idle), ("in_use", stats.in_use())] {
            ConstGauge::new(value).encode(connections.encode_family(&[("state", state)])?)?;
        }
        Ok(())
    }
}
