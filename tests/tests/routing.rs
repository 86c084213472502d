//! Hostile input against the routing and the answers: arbitrary methods,
//! paths, query strings and `Accept` headers never panic, are routed as
//! documented, and get bodies far under the kubelet's 10 KiB.

use healthz::{Check, CheckError, HealthChecks, Probes};
use http::{HeaderMap, HeaderValue, Method, Uri};
use proptest::prelude::*;

struct Flaky(bool);

impl Check for Flaky {
    async fn check(&self) -> Result<(), CheckError> {
        if self.0 {
            Ok(())
        } else {
            Err(CheckError::unavailable(CheckError::DATABASE).with_detail("secret detail"))
        }
    }
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "200ms", cache = "0s")]
struct State {
    #[healthz]
    db: std::sync::Arc<Flaky>,
    #[healthz(name = "cache.main-1")]
    cache: std::sync::Arc<Flaky>,
    #[healthz(critical = false)]
    replica: std::sync::Arc<Flaky>,
}

fn probes() -> Probes<State> {
    State {
        db: std::sync::Arc::new(Flaky(false)),
        cache: std::sync::Arc::new(Flaky(true)),
        replica: std::sync::Arc::new(Flaky(false)),
    }
    .probes()
    .with_details(healthz::details::Details::always())
}

/// What the documentation says about a path (the query aside).
fn documented(method: &Method, path: &str) -> Option<&'static str> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    match path {
        "/healthz" => Some("liveness"),
        "/readiness" => Some("readiness"),
        "/startupz" => Some("startup"),
        "/readiness/db" | "/readiness/cache.main-1" | "/readiness/replica" => Some("check"),
        p if p.starts_with("/readiness/") => Some("unknown check"),
        _ => None,
    }
}

fn path_strategy() -> impl Strategy<Value = String> {
    let known = prop::sample::select(vec![
        "/healthz",
        "/readiness",
        "/startupz",
        "/readiness/db",
        "/readiness/cache.main-1",
        "/readiness/replica",
        "/readiness/",
        "//readiness",
        "/readiness/../x",
        "/readiness/db/",
        "/readiness/%64b",
        "/Healthz",
        "/healthz/",
        "/readiness?",
        "/",
    ])
    .prop_map(str::to_owned);
    let mutated = (known.clone(), "[a-zA-Z0-9/._~%-]{0,12}").prop_map(|(base, tail)| base + &tail);
    let long = "[a-z/]{1,3}".prop_map(|unit| format!("/readiness/{}", unit.repeat(4000)));
    prop_oneof![4 => known, 4 => mutated, 2 => "/[ -~&&[^?# ]]{0,40}", 1 => long]
}

fn query_strategy() -> impl Strategy<Value = String> {
    let pair = prop_oneof![
        Just("verbose".to_owned()),
        Just("verbose=0".to_owned()),
        Just("format=json".to_owned()),
        prop::sample::select(vec![
            "db",
            "cache.main-1",
            "replica",
            "nope",
            "d%62",
            "%",
            "%zz",
            "+"
        ])
        .prop_map(|name| format!("exclude={name}")),
        "[a-z=%&+]{0,20}",
        "[a-z]{1,4}".prop_map(|v| format!("exclude={}", v.repeat(2000))),
    ];
    prop::collection::vec(pair, 0..6).prop_map(|pairs| pairs.join("&"))
}

fn method_strategy() -> impl Strategy<Value = Method> {
    prop::sample::select(vec![
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
        Method::PATCH,
        Method::from_bytes(b"PROBE").unwrap(),
    ])
}

fn accept_strategy() -> impl Strategy<Value = Option<String>> {
    prop::option::of(prop_oneof![
        Just("application/health+json".to_owned()),
        Just("text/html, application/json;q=0.5".to_owned()),
        Just("*/*".to_owned()),
        "[ -~]{0,60}",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn routing_is_as_documented_and_answers_stay_small(
        method in method_strategy(),
        path in path_strategy(),
        query in query_strategy(),
        accept in accept_strategy(),
    ) {
        let probes = probes();
        let text = if query.is_empty() { path.clone() } else { format!("{path}?{query}") };
        // Paths a client could not send are not requests at all.
        let Ok(uri) = text.parse::<Uri>() else { return Ok(()) };
        let mut headers = HeaderMap::new();
        if let Some(accept) = accept.and_then(|a| HeaderValue::from_str(&a).ok()) {
            headers.insert(http::header::ACCEPT, accept);
        }
        let expected = documented(&method, uri.path());
        let request = probes.probe_request(&method, &uri, &headers);
        prop_assert_eq!(request.is_some(), expected.is_some(), "{} {}", method, uri);
        let Some(request) = request else { return Ok(()) };

        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let response = runtime.block_on(request.answer());
        let body = response.body();
        prop_assert!(body.len() < 10 * 1024, "{} bytes for {}", body.len(), uri);
        prop_assert!(!String::from_utf8_lossy(body).contains("secret detail"));
        prop_assert_eq!(&response.headers()["cache-control"], "no-store");
        let length: usize = response.headers()["content-length"].to_str().unwrap().parse().unwrap();
        if method == Method::HEAD {
            prop_assert!(body.is_empty());
        } else {
            prop_assert_eq!(length, body.len());
        }
        let status = response.status().as_u16();
        match expected.unwrap() {
            "liveness" => prop_assert_eq!(status, 200),
            "unknown check" => prop_assert_eq!(status, 404),
            // `db` fails and is critical, unless excluded.
            "readiness" | "startup" => prop_assert!(status == 200 || status == 503),
            // A check asked alone is judged as critical: the failing
            // non-critical `replica` fails its own path.
            "check" => prop_assert_eq!(status, if uri.path() == "/readiness/cache.main-1" { 200 } else { 503 }),
            other => unreachable!("{other}"),
        }
    }
}
