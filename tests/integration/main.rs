//! The integration tests, one binary: each module is a theme (a task, the guided run, the
//! server, the dashboard, ...), all sharing [`support`]. Every test runs the real binaries
//! against a sandbox (`ADO_CUTOVER_SANDBOX`) and servers on 127.0.0.1; see README "Tests".

mod support;

mod agent;
mod browser_sign_out;
mod browser_site_data;
mod cleanup;
mod console;
mod credentials;
mod credentials_windows;
mod dashboard;
mod dashboard_html;
mod groups;
mod guided;
mod hardening;
mod instances;
mod inventory;
mod keyring;
mod pinned_tenants;
mod remotes;
mod report_delivery;
mod server;
mod sign_in_cache;
mod sign_in_cache_windows;
mod ssh_key;
mod store_batches;
mod store_long_texts;
mod store_lookups;
mod store_refused;
mod store_report_bodies;
mod switch_and_verify;
mod tenant_lookup;
mod visual_studio_windows;
mod webhooks;
