//! gRPC health service (work in progress).
