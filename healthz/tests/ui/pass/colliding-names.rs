#![deny(warnings)]

use ::healthz::{CheckError, HealthChecks};

// Every name the generated code could introduce is taken here, as a check
// function, a field, a const or a type: the derive must name only its own
// `__healthz_` items and absolute paths, so none of these collides.
#[derive(HealthChecks)]
#[healthz(timeout = "500ms")]
struct State {
    #[healthz(with = index)]
    index: Client,
    #[healthz(with = config)]
    config: Client,
    #[healthz(with = state)]
    state: Client,
    #[healthz(with = value)]
    value: Client,
    #[healthz(with = checks)]
    checks: Client,
    #[healthz(with = function)]
    function: Client,
    #[healthz(with = CONFIG)]
    name: Client,
    #[healthz]
    timeout: Db,
    #[healthz]
    critical: Db,
    #[healthz]
    busy_limit: Db,
}

struct Client;

async fn index(_: &Client) -> Result<(), CheckError> {
    Err(CheckError::unavailable("index."))
}

async fn config(_: &Client) -> Result<(), CheckError> {
    Err(CheckError::unavailable("config."))
}

async fn state(_: &Client) -> Result<(), CheckError> {
    Err(CheckError::unavailable("state."))
}

async fn value(_: &Client) -> Result<(), CheckError> {
    Err(CheckError::unavailable("value."))
}

async fn checks(_: &Client) -> Result<(), CheckError> {
    Err(CheckError::unavailable("checks."))
}

async fn function(_: &Client) -> Result<(), CheckError> {
    Err(CheckError::unavailable("function."))
}

#[allow(non_snake_case)]
async fn CONFIG(_: &Client) -> Result<(), CheckError> {
    Err(CheckError::unavailable("CONFIG."))
}

// Types and modules named like the ones the generated code uses.
#[allow(dead_code)]
struct Config;
#[allow(dead_code)]
struct CheckConfig;
#[allow(dead_code)]
struct Duration;
#[allow(dead_code)]
trait Check {}
#[allow(dead_code)]
mod core {}
#[allow(dead_code)]
mod healthz {}

struct Db;

impl ::healthz::Check for Db {
    async fn check(&self) -> Result<(), CheckError> {
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let state = State {
        index: Client,
        config: Client,
        state: Client,
        value: Client,
        checks: Client,
        function: Client,
        name: Client,
        timeout: Db,
        critical: Db,
        busy_limit: Db,
    };
    let names: Vec<_> = State::config()
        .checks
        .iter()
        .map(|check| check.name)
        .collect();
    assert_eq!(
        names,
        [
            "index",
            "config",
            "state",
            "value",
            "checks",
            "function",
            "name",
            "timeout",
            "critical",
            "busy_limit"
        ]
    );
    let messages = [
        "index.",
        "config.",
        "state.",
        "value.",
        "checks.",
        "function.",
        "CONFIG.",
    ];
    for (index, expected) in messages.into_iter().enumerate() {
        let error = state.__healthz_check(index).await.unwrap_err();
        assert_eq!(error.message(), expected);
    }
    for index in 7..10 {
        assert!(state.__healthz_check(index).await.is_ok());
    }
}
