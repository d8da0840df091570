//! The Prometheus exporter behind `--metrics`, with a `shard` label on every series a
//! shard's thread records (`sessionctl uas --threads N`).
//!
//! The runtimes publish their counters as absolute values through the `metrics` facade;
//! two shards writing one series would overwrite each other's. A recorder in front of
//! the exporter adds `shard="K"` to what the thread of shard K registers, so each shard
//! has its own series and a query sums them (`sum without (shard) (...)`). A thread that
//! is no shard records its series as they are.

use std::cell::Cell;
use std::net::SocketAddr;

use metrics::{
    Counter, Gauge, Histogram, Key, KeyName, Label, Metadata, Recorder, SharedString, Unit,
};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};

thread_local! {
    /// The shard whose thread this is, when it is one.
    static SHARD: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Labels what this thread records from now on with `shard="index"`.
pub fn label_thread(index: usize) {
    SHARD.with(|s| s.set(Some(index)));
}

/// Serves the process's metrics at `addr` over HTTP (`GET /metrics`), the exporter on a
/// thread of its own with a small tokio runtime, and installs the recorder globally.
pub fn install(addr: SocketAddr) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let (recorder, exporter) = {
        let _entered = runtime.enter();
        PrometheusBuilder::new()
            .with_http_listener(addr)
            .build()
            .map_err(|e| e.to_string())?
    };
    std::thread::Builder::new()
        .name("metrics-exporter".into())
        .spawn(move || runtime.block_on(exporter))
        .map_err(|e| e.to_string())?;
    metrics::set_global_recorder(ShardLabels(recorder)).map_err(|e| e.to_string())
}

/// The exporter's recorder, with the thread's shard label added to every key.
struct ShardLabels(PrometheusRecorder);

/// `key`, with the thread's shard label when it has one.
fn labelled(key: &Key) -> Key {
    match SHARD.with(Cell::get) {
        Some(index) => key.with_extra_labels(vec![Label::new("shard", index.to_string())]),
        None => key.clone(),
    }
}

impl Recorder for ShardLabels {
    fn describe_counter(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_counter(key, unit, description);
    }

    fn describe_gauge(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_gauge(key, unit, description);
    }

    fn describe_histogram(&self, key: KeyName, unit: Option<Unit>, description: SharedString) {
        self.0.describe_histogram(key, unit, description);
    }

    fn register_counter(&self, key: &Key, metadata: &Metadata<'_>) -> Counter {
        self.0.register_counter(&labelled(key), metadata)
    }

    fn register_gauge(&self, key: &Key, metadata: &Metadata<'_>) -> Gauge {
        self.0.register_gauge(&labelled(key), metadata)
    }

    fn register_histogram(&self, key: &Key, metadata: &Metadata<'_>) -> Histogram {
        self.0.register_histogram(&labelled(key), metadata)
    }
}
