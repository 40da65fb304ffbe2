//! The long fuzzing run: `cargo run --release --example fuzz -- [CASES] [TARGET…]` (what
//! `scripts/fuzz` runs). Prints one line per target; exits 1 if any case panicked.

fn main() {
    let mut args = std::env::args().skip(1);
    let cases: u64 = match args.next().map(|a| a.parse()) {
        Some(Ok(n)) => n,
        Some(Err(_)) => {
            eprintln!("fuzz: the first argument is the number of cases per target");
            std::process::exit(2);
        }
        None => 1_000_000,
    };
    let mut targets: Vec<String> = args.collect();
    if targets.is_empty() {
        targets = markpilot::fuzz::TARGETS.iter().map(|t| t.to_string()).collect();
    }
    let seed = std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or(0x6d61_726b_7069_6c6f);
    let scratch = std::env::temp_dir().join(format!("markpilot-fuzz-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&scratch) {
        eprintln!("fuzz: cannot create {}: {e}", scratch.display());
        std::process::exit(2);
    }
    let mut failed = false;
    for t in &targets {
        match markpilot::fuzz::fuzz(t, cases, seed, &scratch) {
            Ok(r) => {
                println!(
                    "{:<7} {:>9} cases in {:>7.1} s, {} panics, slowest case {:.2} ms",
                    r.target, r.cases, r.seconds, r.panic_count, r.slowest_ms
                );
                for p in &r.panics {
                    println!("  panicked on: {p:?}");
                }
                failed |= r.panic_count > 0;
            }
            Err(e) => {
                eprintln!("fuzz: {e}");
                failed = true;
            }
        }
    }
    let _ = std::fs::remove_dir_all(&scratch);
    std::process::exit(i32::from(failed));
}
