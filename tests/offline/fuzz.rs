//! A short fuzzing budget on every change (the long one: `scripts/fuzz`): mutated model
//! answers, key combinations, config files and run folders never panic and never hang.

use crate::common::TempDir;

fn fuzz(target: &str, cases: u64) {
    let dir = TempDir::new("fuzz");
    let r = markpilot::fuzz::fuzz(target, cases, 0x5eed_0001, dir.path()).unwrap();
    assert_eq!(r.cases, cases);
    assert_eq!(r.panic_count, 0, "{target}: panicked on {:?}", r.panics);
    // A generous bound: one case is microseconds; a hang would be seconds.
    assert!(r.slowest_ms < 2000.0, "{target}: a case took {} ms", r.slowest_ms);
    eprintln!("{target}: {} cases in {:.2} s, slowest {:.2} ms", r.cases, r.seconds, r.slowest_ms);
}

#[test]
fn mutated_model_answers_never_panic() {
    fuzz("answer", 200_000);
}

#[test]
fn mutated_key_combinations_never_panic() {
    fuzz("keys", 200_000);
}

#[test]
fn mutated_config_files_never_panic() {
    fuzz("config", 30_000);
}

#[test]
fn mutated_run_folders_never_panic() {
    fuzz("run", 10_000);
}
