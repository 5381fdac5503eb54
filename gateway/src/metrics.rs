//! Metrics defined by filters (and a few of the gateway's own), process-wide, served as
//! Prometheus text at the admin listener's `/metrics`.
//!
//! Semantics follow Envoy: counters only grow (a non-positive increment is BadArgument,
//! record adds), gauges take signed increments and record sets them, histograms only record,
//! and reading a histogram is BadArgument.

use std::collections::HashMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::abi::{MetricType, Status};

/// Envoy's default histogram bucket bounds.
const BUCKETS: [f64; 19] = [
    0.5, 1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0, 10000.0, 30000.0,
    60000.0, 300000.0, 600000.0, 1800000.0, 3600000.0,
];

pub(crate) struct Metric {
    name: String,
    kind: MetricType,
    value: AtomicU64,
    sum: AtomicU64,
    buckets: Vec<AtomicU64>,
}

impl Metric {
    fn new(name: &str, kind: MetricType) -> Metric {
        let buckets = match kind {
            MetricType::Histogram => BUCKETS.iter().map(|_| AtomicU64::new(0)).collect(),
            _ => Vec::new(),
        };
        Metric {
            name: name.to_string(),
            kind,
            value: AtomicU64::new(0),
            sum: AtomicU64::new(0),
            buckets,
        }
    }

    pub(crate) fn increment(&self, delta: i64) -> Result<(), Status> {
        match self.kind {
            MetricType::Counter if delta > 0 => {
                self.value.fetch_add(delta as u64, Ordering::Relaxed);
                Ok(())
            }
            MetricType::Gauge => {
                let _ = self
                    .value
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |v| {
                        Some(if delta >= 0 {
                            v.saturating_add(delta as u64)
                        } else {
                            v.saturating_sub(delta.unsigned_abs())
                        })
                    });
                Ok(())
            }
            _ => Err(Status::BadArgument),
        }
    }

    pub(crate) fn record(&self, value: u64) {
        match self.kind {
            MetricType::Counter => {
                self.value.fetch_add(value, Ordering::Relaxed);
            }
            MetricType::Gauge => self.value.store(value, Ordering::Relaxed),
            MetricType::Histogram => {
                self.value.fetch_add(1, Ordering::Relaxed);
                self.sum.fetch_add(value, Ordering::Relaxed);
                for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
                    if value as f64 <= *bound {
                        bucket.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }
    }

    pub(crate) fn get(&self) -> Result<u64, Status> {
        match self.kind {
            MetricType::Histogram => Err(Status::BadArgument),
            _ => Ok(self.value.load(Ordering::Relaxed)),
        }
    }
}

#[derive(Default)]
pub(crate) struct Metrics {
    inner: RwLock<Registry>,
}

#[derive(Default)]
struct Registry {
    metrics: Vec<Arc<Metric>>,
    by_name: HashMap<(String, u8), u32>,
}

fn type_tag(kind: MetricType) -> u8 {
    match kind {
        MetricType::Counter => 0,
        MetricType::Gauge => 1,
        MetricType::Histogram => 2,
    }
}

impl Metrics {
    /// Defines (or finds) the metric `name` of `kind` and returns its id. Ids carry the type in
    /// their low bits, as Envoy's do, and are never 0.
    pub(crate) fn define(&self, kind: MetricType, name: &str) -> u32 {
        let key = (name.to_string(), type_tag(kind));
        if let Some(id) = self
            .inner
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .by_name
            .get(&key)
        {
            return *id;
        }
        let mut registry = self.inner.write().unwrap_or_else(|p| p.into_inner());
        if let Some(id) = registry.by_name.get(&key) {
            return *id;
        }
        registry.metrics.push(Arc::new(Metric::new(name, kind)));
        let id = ((registry.metrics.len() as u32) << 2) | u32::from(type_tag(kind));
        registry.by_name.insert(key, id);
        id
    }

    pub(crate) fn find(&self, id: u32) -> Option<Arc<Metric>> {
        let index = (id >> 2).checked_sub(1)? as usize;
        let registry = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let metric = registry.metrics.get(index)?;
        (u32::from(type_tag(metric.kind)) == id & 3).then(|| metric.clone())
    }

    /// Prometheus text exposition (format 0.0.4), metrics sorted by name.
    pub(crate) fn render(&self) -> String {
        let registry = self.inner.read().unwrap_or_else(|p| p.into_inner());
        let mut metrics: Vec<&Arc<Metric>> = registry.metrics.iter().collect();
        metrics.sort_by(|a, b| a.name.cmp(&b.name));
        let mut out = String::new();
        for metric in metrics {
            let name = prometheus_name(&metric.name);
            match metric.kind {
                MetricType::Counter | MetricType::Gauge => {
                    let kind = if metric.kind == MetricType::Counter {
                        "counter"
                    } else {
                        "gauge"
                    };
                    let _ = writeln!(out, "# TYPE {name} {kind}");
                    let _ = writeln!(out, "{name} {}", metric.value.load(Ordering::Relaxed));
                }
                MetricType::Histogram => {
                    let _ = writeln!(out, "# TYPE {name} histogram");
                    for (bound, bucket) in BUCKETS.iter().zip(&metric.buckets) {
                        let _ = writeln!(
                            out,
                            "{name}_bucket{{le=\"{bound}\"}} {}",
                            bucket.load(Ordering::Relaxed)
                        );
                    }
                    let count = metric.value.load(Ordering::Relaxed);
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
                    let _ = writeln!(out, "{name}_sum {}", metric.sum.load(Ordering::Relaxed));
                    let _ = writeln!(out, "{name}_count {count}");
                }
            }
        }
        out
    }
}

/// Maps a metric name onto Prometheus' `[a-zA-Z_:][a-zA-Z0-9_:]*` (Envoy-style dotted names
/// such as `wasm.requests` become `wasm_requests`).
pub(crate) fn prometheus_name(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == ':' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert(0, '_');
    }
    out
}

/// The gateway's own metrics, defined once at start.
pub(crate) struct GatewayMetrics {
    pub(crate) requests: Arc<Metric>,
    pub(crate) filter_traps: Arc<Metric>,
    pub(crate) http_calls: Arc<Metric>,
    pub(crate) http_call_failures: Arc<Metric>,
}

impl GatewayMetrics {
    pub(crate) fn define(metrics: &Metrics) -> GatewayMetrics {
        let counter = |name: &str| {
            let id = metrics.define(MetricType::Counter, name);
            metrics
                .find(id)
                .unwrap_or_else(|| Arc::new(Metric::new(name, MetricType::Counter)))
        };
        GatewayMetrics {
            requests: counter("gateway_http_requests_total"),
            filter_traps: counter("gateway_filter_traps_total"),
            http_calls: counter("gateway_filter_http_calls_total"),
            http_call_failures: counter("gateway_filter_http_call_failures_total"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counter_gauge_histogram_semantics() {
        let metrics = Metrics::default();
        let counter = metrics.define(MetricType::Counter, "requests");
        assert_eq!(metrics.define(MetricType::Counter, "requests"), counter);
        let c = metrics.find(counter).unwrap();
        c.increment(2).unwrap();
        assert_eq!(c.increment(-1), Err(Status::BadArgument));
        assert_eq!(c.increment(0), Err(Status::BadArgument));
        c.record(3);
        assert_eq!(c.get(), Ok(5));

        let g = metrics
            .find(metrics.define(MetricType::Gauge, "level"))
            .unwrap();
        g.record(10);
        g.increment(-4).unwrap();
        assert_eq!(g.get(), Ok(6));

        let h_id = metrics.define(MetricType::Histogram, "sizes");
        let h = metrics.find(h_id).unwrap();
        h.record(7);
        h.record(700);
        assert_eq!(h.get(), Err(Status::BadArgument));
        assert_eq!(h.increment(1), Err(Status::BadArgument));
        assert!(metrics.find(h_id ^ 1).is_none());
        assert!(metrics.find(0).is_none());

        let text = metrics.render();
        assert!(
            text.contains("# TYPE requests counter\nrequests 5\n"),
            "{text}"
        );
        assert!(text.contains("level 6\n"));
        assert!(text.contains("sizes_bucket{le=\"10\"} 1\n"), "{text}");
        assert!(text.contains("sizes_bucket{le=\"1000\"} 2\n"));
        assert!(text.contains("sizes_sum 707\nsizes_count 2\n"));
    }

    #[test]
    fn sanitizes_names() {
        assert_eq!(
            prometheus_name("wasm.requests-total"),
            "wasm_requests_total"
        );
        assert_eq!(prometheus_name("9lives"), "_9lives");
    }
}
