//! Decides whether the fault tests (tests/api/faults.rs, a module of the one test binary) can
//! run on this machine: they mount a tmpfs and trace the server with strace, which needs root
//! and strace. Where they cannot, they are marked ignored, which `cargo test` shows in its
//! summary with the reason; with PROVISIOND_FAULT_TESTS=require (as CI sets) a machine that
//! cannot run them fails the build.

use std::process::Command;

fn main() {
    println!("cargo:rustc-check-cfg=cfg(fault_tests)");
    println!("cargo:rerun-if-env-changed=PROVISIOND_FAULT_TESTS");
    println!("cargo:rerun-if-changed=build.rs");
    let root = Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    let strace = Command::new("strace").arg("-V").output().is_ok_and(|o| o.status.success());
    if root && strace {
        println!("cargo:rustc-cfg=fault_tests");
    } else if std::env::var("PROVISIOND_FAULT_TESTS").as_deref() == Ok("require") {
        panic!("PROVISIOND_FAULT_TESTS=require, but the fault tests need root and strace (root: {root}, strace: {strace})");
    }
}
