//! Replays every input the fuzzers kept (`fuzz/corpus/<target>/`) and every input that once
//! broke a target (`fuzz/regressions/<target>/`) through the same entry functions the fuzz
//! targets call, so `cargo test` on stable checks them without nightly or libFuzzer.

use std::path::{Path, PathBuf};

fn inputs(target: &str) -> Vec<PathBuf> {
    let fuzz_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut files: Vec<PathBuf> = ["corpus", "regressions"]
        .iter()
        .filter_map(|kind| std::fs::read_dir(fuzz_dir.join(kind).join(target)).ok())
        .flatten()
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file())
        .collect();
    files.sort();
    files
}

fn replay(target: &str, entry: fn(&[u8])) {
    let files = inputs(target);
    // A target without inputs means the corpus went missing, not that all is well.
    assert!(!files.is_empty(), "no corpus for fuzz target {target}");
    for file in files {
        let data = std::fs::read(&file).expect("corpus file is readable");
        let outcome = std::panic::catch_unwind(|| entry(&data));
        assert!(outcome.is_ok(), "{target} fails on {}", file.display());
    }
}

#[test]
fn session_cookie_corpus() {
    replay("session_cookie", super::session_cookie);
}

#[test]
fn config_corpus() {
    replay("config", super::config);
}

#[test]
fn jwt_corpus() {
    replay("jwt", super::jwt);
}

#[test]
fn http_corpus() {
    replay("http", super::http);
}

#[test]
fn discovery_corpus() {
    replay("discovery", super::discovery);
}
