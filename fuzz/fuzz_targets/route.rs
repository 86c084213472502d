//! Arbitrary methods, request targets and `Accept` headers: the router must
//! never panic, must route exactly as documented, and every answer must
//! stay far under the kubelet's 10 KiB.
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run route -- -max_total_time=600`

#![no_main]

use std::sync::OnceLock;

use healthz::{Check, CheckError, HealthChecks, Probes};
use http::{HeaderMap, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;

struct Down;

impl Check for Down {
    async fn check(&self) -> Result<(), CheckError> {
        Err(CheckError::unavailable(CheckError::DATABASE).with_detail("secret host name"))
    }
}

struct Up;

impl Check for Up {
    async fn check(&self) -> Result<(), CheckError> {
        Ok(())
    }
}

#[derive(Clone, HealthChecks)]
#[healthz(timeout = "50ms", cache = "0s")]
struct State {
    #[healthz]
    db: std::sync::Arc<Down>,
    #[healthz(name = "cache.main-1")]
    cache: std::sync::Arc<Up>,
}

fn probes() -> &'static (Probes<State>, tokio::runtime::Runtime) {
    static PROBES: OnceLock<(Probes<State>, tokio::runtime::Runtime)> = OnceLock::new();
    PROBES.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let probes = runtime.block_on(async {
            State {
                db: std::sync::Arc::new(Down),
                cache: std::sync::Arc::new(Up),
            }
            .probes()
        });
        (probes, runtime)
    })
}

fn documented(method: &Method, path: &str) -> Option<u16> {
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    match path {
        "/healthz" => Some(200),
        "/readiness/cache.main-1" => Some(200),
        "/readiness/db" => Some(503),
        "/readiness" | "/startupz" => Some(0),
        p if p.starts_with("/readiness/") => Some(404),
        _ => None,
    }
}

fuzz_target!(|data: &[u8]| {
    // method \n target \n accept
    let mut parts = data.splitn(3, |&b| b == b'\n');
    let (Some(method), Some(target)) = (parts.next(), parts.next()) else { return };
    let accept = parts.next();
    let Ok(method) = Method::from_bytes(method) else { return };
    let Ok(uri) = Uri::try_from(target) else { return };
    let mut headers = HeaderMap::new();
    if let Some(accept) = accept.and_then(|a| HeaderValue::from_bytes(a).ok()) {
        headers.insert(http::header::ACCEPT, accept);
    }
    let (probes, runtime) = probes();
    let expected = documented(&method, uri.path());
    let request = probes.probe_request(&method, &uri, &headers);
    assert_eq!(request.is_some(), expected.is_some(), "{method} {uri}");
    let Some(request) = request else { return };
    let response = runtime.block_on(request.answer());
    let body = response.body();
    assert!(body.len() < 10 * 1024, "{} bytes", body.len());
    assert!(!body.windows(6).any(|w| w == b"secret"));
    let status = response.status().as_u16();
    match expected {
        Some(0) => assert!(status == 200 || status == 503),
        Some(code) => assert_eq!(status, code, "{method} {uri}"),
        None => unreachable!(),
    }
});
