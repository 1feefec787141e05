//! Prometheus metrics: this instance's request counters, and the fleet's device counts from the
//! database (the same for every instance). The device counts are one query, answered from a
//! short cache ([`FleetCache`]): many scrapes at once cost the database one query, never one
//! each, so `/metrics` cannot be used to slow the server down.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::store::{FleetCounts, Store};

/// How long the fleet's counts are reused.
pub const CACHE_FOR: Duration = Duration::from_secs(15);

/// The fleet's counts, at most [`CACHE_FOR`] old; one query at a time fills it.
#[derive(Default)]
pub struct FleetCache {
    slot: tokio::sync::Mutex<Option<(Instant, Option<FleetCounts>)>>,
}

impl FleetCache {
    /// The counts (`None` when the database did not answer), from the cache when fresh.
    pub async fn get(&self, store: &Store, now: time::OffsetDateTime) -> Option<FleetCounts> {
        let mut slot = self.slot.lock().await;
        if let Some((at, counts)) = slot.as_ref()
            && at.elapsed() < CACHE_FOR
        {
            return counts.clone();
        }
        let counts = match store.fleet_counts(now).await {
            Ok(counts) => Some(counts),
            Err(err) => {
                tracing::error!("metrics: the database did not answer: {err}");
                None
            }
        };
        *slot = Some((Instant::now(), counts.clone()));
        counts
    }
}

/// Counters of this instance.
#[derive(Debug, Default)]
pub struct Metrics {
    pub accepted: AtomicU64,
    pub duplicates: AtomicU64,
    pub rejected: AtomicU64,
}

impl Metrics {
    pub fn count(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The text exposition format, with the fleet's devices per outcome and the stale count
    /// (`fleet`), or, when the database did not answer, without them and with
    /// `ado_cutover_database_up 0` (never a zero that looks like an empty fleet).
    pub fn render(&self, fleet: Option<&FleetCounts>) -> String {
        let mut out = String::new();
        out.push_str(
            "# HELP ado_cutover_reports_total Reports received by this instance, by result.\n",
        );
        out.push_str("# TYPE ado_cutover_reports_total counter\n");
        for (result, counter) in [
            ("accepted", &self.accepted),
            ("duplicate", &self.duplicates),
            ("rejected", &self.rejected),
        ] {
            let _ = writeln!(
                out,
                "ado_cutover_reports_total{{result=\"{result}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        out.push_str("# HELP ado_cutover_database_up 1 when the database answered this scrape.\n");
        out.push_str("# TYPE ado_cutover_database_up gauge\n");
        let _ = writeln!(out, "ado_cutover_database_up {}", u8::from(fleet.is_some()));
        let Some(fleet) = fleet else {
            return out;
        };
        out.push_str("# HELP ado_cutover_devices Devices (device and user) by the outcome of their latest report.\n");
        out.push_str("# TYPE ado_cutover_devices gauge\n");
        for (outcome, count) in &fleet.outcomes {
            // Outcomes are the schema's own kebab-case words, stored by the server.
            let _ = writeln!(out, "ado_cutover_devices{{outcome=\"{outcome}\"}} {count}");
        }
        let _ = writeln!(
            out,
            "# HELP ado_cutover_devices_stale Devices not seen for {} days.",
            crate::server::store::STALE_AFTER_DAYS
        );
        out.push_str("# TYPE ado_cutover_devices_stale gauge\n");
        let _ = writeln!(out, "ado_cutover_devices_stale {}", fleet.stale);
        out
    }
}
