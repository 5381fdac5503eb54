//! State that outlives a request: shared data with CAS across workers, timers, metrics, and
//! the context lifecycle callbacks.

// A test crate: its helpers may unwrap, panic and index like its tests (clippy.toml covers
// only the #[test] functions themselves).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use support::*;

fn start(config: &str, upstream: &TestServer) -> Gateway {
    Gateway::start(
        &single_plugin_yaml(config, ""),
        &[("UPSTREAM_PORT", upstream.port.to_string())],
    )
}

#[test]
fn shared_data_compare_and_swap_holds_across_workers() {
    let upstream = echo_server();
    let gateway = Arc::new(start(r#"{"mode": "shared-data"}"#, &upstream));
    let threads: Vec<_> = (0..4)
        .map(|_| {
            let gateway = gateway.clone();
            std::thread::spawn(move || {
                (0..15)
                    .map(|_| {
                        let response = gateway.get("/incr");
                        assert_eq!(response.status, 200, "{}", response.text());
                        response.header("x-vm-instance").unwrap().to_string()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let mut instances = HashSet::new();
    for thread in threads {
        instances.extend(thread.join().expect("client thread"));
    }
    assert_eq!(
        instances.len(),
        2,
        "connections were spread over both workers' VMs"
    );
    let total = gateway.get("/get");
    assert_eq!(
        total.header("x-counter"),
        Some("60"),
        "no increment was lost"
    );
    assert_eq!(
        total.header("x-missing"),
        Some("Ok((None, None))"),
        "a missing key reads as NotFound"
    );

    let stale = gateway.get("/cas-stale");
    assert!(
        stale.header("x-cas").unwrap().starts_with("Some("),
        "a CAS value is never 0"
    );
    assert_eq!(stale.header("x-first"), Some("Ok(())"));
    assert_eq!(
        stale.header("x-second"),
        Some("Err(CasMismatch)"),
        "a stale CAS is refused"
    );
    assert_eq!(stale.header("x-final"), Some("b"));
}

#[test]
fn ticks_fire_in_every_worker() {
    let upstream = echo_server();
    let gateway = start(r#"{"mode": "tick", "tick_ms": 50}"#, &upstream);
    let mut last = None;
    let ticked = wait_until(Duration::from_secs(10), || {
        let response = gateway.get("/");
        let mine: u64 = response.header("x-ticks").unwrap().parse().unwrap();
        let total: u64 = response.header("x-ticks-total").unwrap().parse().unwrap();
        last = Some((mine, total));
        mine >= 3 && total > mine
    });
    assert!(ticked, "ticks (this VM, all VMs): {last:?}");
}

#[test]
fn metrics_are_served_as_prometheus_text() {
    let upstream = echo_server();
    let gateway = start(r#"{"mode": "metrics"}"#, &upstream);
    let first = gateway.request("GET", "/", &[("x-value", "7")], b"");
    assert_eq!(first.header("x-increment"), Some("Ok(())"));
    assert_eq!(
        first.header("x-decrement"),
        Some("Err(BadArgument)"),
        "counters only grow"
    );
    assert_eq!(first.header("x-unknown-metric"), Some("Err(NotFound)"));
    let second = gateway.request("GET", "/", &[("x-value", "700")], b"");
    assert_eq!(
        second.header("x-counter"),
        Some("Ok(2)"),
        "one counter for both workers"
    );
    assert_eq!(second.header("x-gauge"), Some("Ok(700)"));

    let metrics = gateway.admin("GET", "/metrics", &[], b"");
    assert_eq!(metrics.status, 200);
    assert!(metrics
        .header("content-type")
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = metrics.text();
    for line in [
        "# TYPE conformance_requests counter",
        "conformance_requests 2",
        "# TYPE conformance_last_value gauge",
        "conformance_last_value 700",
        "# TYPE conformance_value histogram",
        "conformance_value_bucket{le=\"10\"} 1",
        "conformance_value_bucket{le=\"1000\"} 2",
        "conformance_value_sum 707",
        "conformance_value_count 2",
        "gateway_http_requests_total 2",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "missing {line:?} in:\n{text}"
        );
    }
}

fn counts(gateway: &Gateway) -> (u64, u64, u64) {
    let response = gateway.get("/counts");
    let n = |name: &str| response.header(name).unwrap().parse::<u64>().unwrap();
    (n("x-done"), n("x-log"), n("x-delete"))
}

#[test]
fn every_stream_gets_done_log_and_delete() {
    let upstream = echo_server();
    let gateway = start(r#"{"mode": "lifecycle"}"#, &upstream);
    for _ in 0..3 {
        assert_eq!(gateway.get("/").status, 200);
    }
    // Each /counts request finishes too, after it answered.
    let mut seen = (0, 0, 0);
    let finished = wait_until(Duration::from_secs(5), || {
        seen = counts(&gateway);
        seen.0 >= 3 && seen.1 >= 3 && seen.2 >= 3
    });
    assert!(finished, "done/log/delete counts: {seen:?}");
}

#[test]
fn a_context_may_finish_later_with_proxy_done() {
    let upstream = echo_server();
    // The deferred call's service answers only when the test says so: until then the
    // context cannot have finished, however slowly the machine runs this test.
    let answer = Gate::new();
    let slow = {
        let answer = answer.clone();
        TestServer::start(move |_| {
            answer.pass();
            TestResponse::new(200)
        })
    };
    let config = format!(
        r#"{{"mode": "lifecycle", "defer_done": true, "upstream": "{}", "authority": "slow"}}"#,
        slow.address()
    );
    let env = [
        ("UPSTREAM_PORT", upstream.port.to_string()),
        ("WORKERS", "1".to_string()),
    ];
    let gateway = Gateway::start(&single_plugin_yaml(&config, ""), &env);
    assert_eq!(gateway.get("/").status, 200);
    let early = counts(&gateway);
    assert_eq!(early.1, 0, "proxy_on_log waits for proxy_done: {early:?}");
    answer.release();
    let mut seen = (0, 0, 0);
    let finished = wait_until(Duration::from_secs(10), || {
        seen = counts(&gateway);
        seen.1 >= 1 && seen.2 >= 1
    });
    assert!(finished, "on_log and on_delete follow proxy_done: {seen:?}");
    assert!(slow.request_count() >= 1, "the deferred call went out");
    let (done, logged, deleted) = seen;
    assert!(
        logged <= done && deleted <= done,
        "never logged before done: {seen:?}"
    );
}
