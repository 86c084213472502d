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
    /// Whether the caller may read the details; see [`Route::withhold_details`].
    pub(crate) details: bool,
}

impl Route {
    /// Whether the request asks for more than the plain answer.
    pub(crate) fn asks_for_details(&self) -> bool {
        self.verbose || self.json || matches!(self.target, Target::Check(_))
    }

    /// The route as an untrusted caller gets it: the plain answer for
    /// `?verbose`, the status alone in health+json, and a per-check path
    /// answered as an unknown name (no check runs, no name is confirmed).
    pub(crate) fn withhold_details(&mut self) {
        self.details = false;
        self.verbose = false;
        if let Target::Check(_) = self.target {
            self.target = Target::UnknownCheck;
        }
    }
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
        details: true,
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

/// Whether the `Accept` header prefers health+json: `application/health+json`
/// or `application/json` acceptable (quality above zero) and weighted at
/// least as high as `text/plain` or `text/*` (`*/*` alone leaves the
/// plain-text default).
fn accepts_json(headers: &HeaderMap) -> bool {
    let mut json = 0;
    let mut text = 0;
    let ranges = headers
        .get_all(ACCEPT)
        .iter()
        // Without a JSON type, a value cannot ask for JSON: what the
        // kubelet (`*/*`) and browsers send is passed over unparsed.
        .filter(|value| mentions_json(value.as_bytes()))
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','));
    for range in ranges {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim();
        let quality = parts
            .filter_map(|parameter| parameter.trim().strip_prefix("q="))
            .find_map(quality)
            .unwrap_or(1000);
        let best = if media.eq_ignore_ascii_case("application/health+json")
            || media.eq_ignore_ascii_case("application/json")
        {
            &mut json
        } else if media.eq_ignore_ascii_case("text/plain") || media.eq_ignore_ascii_case("text/*") {
            &mut text
        } else {
            continue;
        };
        *best = (*best).max(quality);
    }
    json > 0 && json >= text
}

/// Whether `value` contains `json`, in any case.
fn mentions_json(value: &[u8]) -> bool {
    value
        .windows(4)
        .any(|window| window.eq_ignore_ascii_case(b"json"))
}

/// A quality value (`1`, `0.5`, `0.001`) in thousandths; `None` if it is
/// not one, and the range then counts as `q=1`.
fn quality(value: &str) -> Option<u16> {
    let value = value.trim();
    let (whole, fraction) = value.split_once('.').unwrap_or((value, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = format!("{fraction:0<3}").parse::<u16>().ok()?;
    match whole {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn json_for(accept: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, accept.parse().unwrap());
        accepts_json(&headers)
    }

    #[test]
    fn quality_values_decide_between_json_and_text() {
        assert!(json_for("application/health+json"));
        assert!(json_for("application/json, text/plain, */*"));
        assert!(json_for("text/plain;q=0.5, application/json"));
        assert!(!json_for("application/health+json;q=0, text/plain"));
        assert!(!json_for("application/health+json;q=0"));
        assert!(!json_for("application/json;q=0.5, text/plain"));
        assert!(!json_for("*/*"));
        assert!(!json_for("text/*, application/json;q=0.9"));
        assert!(json_for("application/json;q=0.001"));
        // A malformed quality counts as q=1.
        assert!(json_for("application/json;q=2, text/plain;q=0.5"));
    }
}
