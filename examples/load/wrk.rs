//! Running `wrk` and reading what it prints.

/// `wrk` at 8 connections for `seconds`: requests per second and p99 (ms).
pub fn flood(url: &str, seconds: u32, script: Option<&std::path::Path>) -> (f64, f64) {
    let mut cmd = std::process::Command::new("wrk");
    cmd.args(["-t2", "-c8", &format!("-d{seconds}s"), "--latency"]);
    if let Some(s) = script {
        cmd.arg("-s").arg(s);
    }
    let out = cmd
        .arg(url)
        .output()
        .expect("wrk runs (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk output: {text}"));
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| millis(v.trim()))
        .unwrap_or_else(|| panic!("wrk output: {text}"));
    if text.contains("Non-2xx") {
        println!(
            "  note: wrk saw non-2xx answers: {}",
            text.lines().find(|l| l.contains("Non-2xx")).unwrap()
        );
    }
    (rps, p99)
}

fn millis(v: &str) -> f64 {
    let (n, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = n.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        _ => f64::NAN,
    }
}

/// Flood rounds per endpoint; the medians are reported.
pub const ROUNDS: usize = 3;

/// The median requests per second and the median p99 of `rounds`.
pub fn medians(rounds: Vec<(f64, f64)>) -> (f64, f64) {
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    (
        median(rounds.iter().map(|r| r.0).collect()),
        median(rounds.iter().map(|r| r.1).collect()),
    )
}
