//! Compile-time figures: `cargo bench -p netpol-compiler --bench compile`.
//!
//! Generates programs of N services in one namespace-wide-isolated namespace, each reaching the
//! next and DNS, and prints the best of three wall-clock times for a cold compile (parse, resolve,
//! check, lower, optimise, emit) and for an incremental re-check after editing one file.
//! Figures, not assertions: these machines are shared and noisy.

use netpol_compiler::db::{self, Database};
use salsa::Setter;
use std::time::{Duration, Instant};

fn program(n: usize) -> Vec<(String, String)> {
    let mut files = vec![(
        "main.netpol".to_string(),
        "use std::dns\nnamespace shop { isolate ingress, egress }\n".to_string(),
    )];
    for chunk in 0..n.div_ceil(100) {
        let mut text = String::new();
        for i in chunk * 100..((chunk + 1) * 100).min(n) {
            text.push_str(&format!(
                "service s{i} in shop {{\n  select app = \"s{i}\"\n  port http = 8080\n}}\n"
            ));
            text.push_str(&format!("s{i} -> s{}:http, kube-dns:dns\n", (i + 1) % n));
        }
        files.push((format!("part{chunk:03}.netpol"), text));
    }
    files
}

fn best<F: FnMut() -> usize>(mut f: F) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut out = 0;
    for _ in 0..3 {
        let t = Instant::now();
        out = f();
        best = best.min(t.elapsed());
    }
    (best, out)
}

fn main() {
    println!(
        "{:>9} {:>12} {:>12} {:>10} {:>12}",
        "services", "cold", "re-check", "policies", "YAML bytes"
    );
    for n in [10, 100, 500, 2000] {
        let files = program(n);
        let mut bytes = 0;
        let (cold, policies) = best(|| {
            let mut db = Database::default();
            let ws = db.workspace(files.clone());
            let docs = db::emitted(&db, ws).clone().unwrap_or_default();
            bytes = docs.iter().map(|d| d.yaml.len()).sum();
            docs.len()
        });
        // Incremental: change one file's text, re-run diagnostics and emission.
        let mut db = Database::default();
        let ws = db.workspace(files.clone());
        let _ = db::emitted(&db, ws);
        let (warm, _) = best(|| {
            let file = ws.files(&db).get(1).copied();
            if let Some(file) = file {
                let text = format!("{}// edit\n", file.text(&db));
                file.set_text(&mut db).to(text);
            }
            db::diagnostics(&db, ws).len()
        });
        println!(
            "{n:>9} {:>10.1}ms {:>10.1}ms {policies:>10} {bytes:>12}",
            cold.as_secs_f64() * 1e3,
            warm.as_secs_f64() * 1e3
        );
    }
}
