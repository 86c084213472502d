//! actix-web integration (work in progress).
