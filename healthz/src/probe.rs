//! The three probes the kubelet knows, named once for every adapter: HTTP
//! routing, the gRPC health service, exec probes and the printed manifests;
//! and what a probe request may ask about ([`Target`]).

use crate::config::Config;

/// One of the kubelet's three probes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Probe {
    /// Is the process alive? Failing it restarts the container.
    Liveness,
    /// Can it serve traffic now? Failing it takes the pod out of the
    /// Service's endpoints.
    Readiness,
    /// Has it finished starting? Liveness and readiness wait for it.
    Startup,
}

impl Probe {
    /// Every probe, in the order a manifest lists them.
    pub const ALL: [Probe; 3] = [Probe::Liveness, Probe::Readiness, Probe::Startup];

    /// `liveness`, `readiness` or `startup`: the word after `--probe`, the
    /// gRPC service name, and what verbose answers call the probe.
    pub fn as_str(self) -> &'static str {
        match self {
            Probe::Liveness => "liveness",
            Probe::Readiness => "readiness",
            Probe::Startup => "startup",
        }
    }

    /// The probe called `name` (as [`as_str`](Self::as_str) spells it), if
    /// any.
    pub fn named(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|probe| probe.as_str() == name)
    }

    /// The HTTP path `config` serves this probe on.
    pub fn path(self, config: &Config) -> &'static str {
        match self {
            Probe::Liveness => config.liveness_path,
            Probe::Readiness => config.readiness_path,
            Probe::Startup => config.startup_path,
        }
    }
}

/// What a probe request asks about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// One of the three probes.
    Probe(Probe),
    /// `<readiness>/<name>`: one check.
    Check(usize),
    /// `<readiness>/<name>` where no check has that name.
    UnknownCheck,
}
