//! The `lms` binary end to end, in one test binary (one link instead of one per file): the
//! command line, the gateway over HTTP, concurrency, faults, hostile input, the authorization
//! and tenant-isolation matrices, and the benchmark harness's smoke run.

mod audit;
mod bench;
mod cli;
mod concurrency;
mod content_launches;
mod content_packages;
mod conventions;
mod faults;
mod gateway;
mod hostile;
mod matrix;
mod path_http;
mod portal_web;
mod privacy;
mod replicas;
mod scopes;
mod support;
mod teams;
mod telemetry;
mod xapi;
