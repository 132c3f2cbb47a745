//! Test helpers shared by the integration tests and benches of `clickrules-aws`,
//! `clickrules-lambda` and `clickrules-cli`:
//!
//! - [`moto`]: a moto AWS emulator per test ([`Moto`]), and the requests it recorded;
//! - [`world`]: the AWS resources a deployment has, on a fresh emulator ([`World`]), and
//!   engines for the tests;
//! - [`stub`]: a one-answer HTTP server ([`StubServer`]) for failures moto cannot produce;
//! - [`scripted`]: a fault-injecting HTTP server answering from a script;
//! - [`runtime_api`]: a stand-in for the Lambda Runtime API;
//! - [`run`]: runs a binary against an emulator, and reads its output.

#![warn(missing_docs)]

pub mod moto;
pub mod run;
pub mod runtime_api;
pub mod scripted;
pub mod stub;
pub mod world;

pub use moto::{Moto, invocations};
pub use stub::StubServer;
pub use world::{World, engine, engine_with};
