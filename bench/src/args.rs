//! The subcommands' arguments: `--name value` flags, `--name` switches, and
//! the usage message every malformed command line ends with.

pub fn usage() -> ! {
    eprintln!(
        "usage:\n  healthz-bench run [--seconds S] [--rounds R] [--connections C] [--million N]\n    \
         [--wrk | --no-wrk] [--wrk-threads T] [--wrk-connections C]\n    \
         [--parts load,storm,fault,blackhole,memory,fleet] [--raw]\n    \
         [--servers NAME,...] [--fault-seconds S] [--fault-clients C]\n  \
         healthz-bench inproc [--rounds R] [--calls N]\n  \
         healthz-bench instructions [--requests N] [--kubelet-requests N] [--warm-up N]\n    \
         [--repeats N] [--workers N]\n  \
         healthz-bench serve KIND [--pg URL --memcache URL] [--workers N]\n  \
         healthz-bench load ADDR PATH [--connections C] [--seconds S] [--max-requests N]"
    );
    std::process::exit(2);
}

/// `--name value` from the arguments, parsed, or `default`.
pub fn flag<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.windows(2)
        .find(|pair| pair[0] == name)
        .map(|pair| pair[1].parse().unwrap_or_else(|_| usage()))
        .unwrap_or(default)
}

/// Whether `--name` is among the arguments.
pub fn switch(args: &[String], name: &str) -> bool {
    args.iter().any(|arg| arg == name)
}
