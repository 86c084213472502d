//! Which probe a request asks for: a pure function of the compile-time
//! [`Config`] and the request's method, path, query string and `Accept`
//! header, allocation-free for every request that is not a probe.

use http::header::ACCEPT;
use http::{HeaderMap, Method, Uri};

use crate::config::Config;
use crate::probe::{Probe, Target};

/// A request routed to a probe, with what its query string asks for.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) target: Target,
    pub(crate) head: bool,
    pub(crate) verbose: bool,
    pub(crate) json: bool,
    pub(crate) excluded: Vec<usize>,
}

/// Decides whether a request is a probe, and which. Anything but `GET` or
/// `HEAD` on a probe path is not, and is left to the application.
pub(crate) fn route(
    config: &Config,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
) -> Option<Route> {
    let head = if method == Method::GET {
        false
    } else if method == Method::HEAD {
        true
    } else {
        return None;
    };
    let path = uri.path();
    let target = if let Some(probe) = Probe::ALL.into_iter().find(|p| p.path(config) == path) {
        Target::Probe(probe)
    } else {
        let name = path
            .strip_prefix(config.readiness_path)?
            .strip_prefix('/')?;
        match config.check_index(name) {
            Some(index) => Target::Check(index),
            None => Target::UnknownCheck,
        }
    };
    let mut route = Route {
        target,
        head,
        verbose: false,
        json: accepts_json(headers),
        excluded: Vec::new(),
    };
    let pairs = uri.query().into_iter().flat_map(|query| query.split('&'));
    for (key, value) in pairs.map(split_pair) {
        match key {
            "verbose" => route.verbose = !matches!(value, "0" | "false"),
            "format" => route.json = value == "json",
            "exclude" => {
                let value = percent_decode(value);
                if let Some(index) = config.check_index(&value) {
                    if !route.excluded.contains(&index) {
                        route.excluded.push(index);
                    }
                }
            }
            _ => {}
        }
    }
    Some(route)
}

/// Whether the `Accept` header names `application/health+json` or
/// `application/json`.
fn accepts_json(headers: &HeaderMap) -> bool {
    headers
        .get_all(ACCEPT)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|range| range.split(';').next().unwrap_or("").trim())
        .any(|range| {
            range.eq_ignore_ascii_case("application/health+json")
                || range.eq_ignore_ascii_case("application/json")
        })
}

fn split_pair(pair: &str) -> (&str, &str) {
    pair.split_once('=').unwrap_or((pair, ""))
}

/// Decodes `%XX` escapes and `+`; anything malformed is kept as it is, so
/// it simply matches no check name.
fn percent_decode(value: &str) -> std::borrow::Cow<'_, str> {
    if !value.contains(['%', '+']) {
        return value.into();
    }
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(byte) => {
                        out.push(byte);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            byte => out.push(byte),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned().into()
}
