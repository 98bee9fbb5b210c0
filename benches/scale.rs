//! The scale benchmark (docs/performance.md): `cargo bench --bench scale [-- SIZE...]`.
//!
//! For each size (default 1,000 / 10,000 / 50,000 services) it generates the seeded program of
//! `netpol_testkit::scale` with its manifests, and prints, each measured in a fresh process:
//! the library's per-stage times (parse, manifests, resolve, check, lower, optimize, emit) and
//! peak memory; the `netpol` binary's wall time for `check`, `compile --out-dir` (write
//! included) and, with `NETPOL_BENCH_IMPORT=1`, `import` of its own output, with peak memory; the output size; and the
//! ratio to a floor (reading the input files and writing the output bytes with plain `std::fs`).
//! `--manifest-files N` measures a program whose N services each have their own manifest file.
//! After the stages, `verify:` is translation validation (`compile --verify`) of the emitted
//! YAML, and its share of the compile. `NETPOL_BENCH_LIBRARY=1` stops after it (no binary runs).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a benchmark: a failure should stop it"
)]

use netpol_compiler::db::{self, Database};
use netpol_testkit::scale::{self, Manifests};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SEED: u64 = 0x5eed_0010;

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    if let [one, size] = args.as_slice()
        && one == "--one"
    {
        return one_size(size.parse().unwrap(), Manifests::PerNamespace);
    }
    if let [one, size] = args.as_slice()
        && one == "--one-files"
    {
        return one_size(size.parse().unwrap(), Manifests::PerService);
    }
    if let [write, size, dir] = args.as_slice()
        && (write == "--write" || write == "--write-files")
    {
        // The program of one size written to a folder, to profile the binary on it
        // (`--write-files`: one manifest file per service).
        let layout = if write == "--write" {
            Manifests::PerNamespace
        } else {
            Manifests::PerService
        };
        let generated = scale::generate(size.parse().unwrap(), SEED, layout);
        return generated.write_to(Path::new(dir)).unwrap();
    }
    let mut sizes: Vec<(usize, &str)> = Vec::new();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if a == "--manifest-files" {
            sizes.push((it.next().unwrap().parse().unwrap(), "--one-files"));
        } else if let Ok(n) = a.parse() {
            sizes.push((n, "--one"));
        }
    }
    if sizes.is_empty() {
        sizes = vec![(1_000, "--one"), (10_000, "--one"), (50_000, "--one")];
    }
    println!(
        "netpol scale benchmark (seed {SEED:#x}); times in seconds, memory in MB\n{}",
        cores()
    );
    let exe = std::env::current_exe().unwrap();
    for (size, mode) in sizes {
        let status = Command::new(&exe)
            .arg(mode)
            .arg(size.to_string())
            .status()
            .unwrap();
        assert!(status.success(), "size {size} failed");
    }
}

fn cores() -> String {
    let n = std::thread::available_parallelism().map_or(1, |n| n.get());
    format!("({n} cores available; other processes may share them)")
}

/// Peak resident memory of this process so far (MB).
fn own_peak_mb() -> f64 {
    peak_mb(Path::new("/proc/self/status")).unwrap_or(0.0)
}

fn peak_mb(status: &Path) -> Option<f64> {
    let text = std::fs::read_to_string(status).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Runs the binary; its wall time and peak memory (sampled from /proc every 2 ms).
fn run(args: &[&str], dir: &Path) -> (Duration, f64, std::process::Output) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_netpol"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = PathBuf::from(format!("/proc/{}/status", child.id()));
    let mut peak: f64 = 0.0;
    // Drain stdout in a thread so a large output cannot block the child.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut stdout, &mut v).unwrap();
        v
    });
    loop {
        if let Some(p) = peak_mb(&status) {
            peak = peak.max(p);
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = start.elapsed();
    let mut out = child.wait_with_output().unwrap();
    out.stdout = reader.join().unwrap();
    (took, peak, out)
}

fn timed<T>(f: impl FnOnce() -> T) -> (T, f64) {
    let start = Instant::now();
    let v = f();
    (v, start.elapsed().as_secs_f64())
}

fn dir_bytes(dir: &Path) -> (usize, u64) {
    let mut n = 0;
    let mut bytes = 0;
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        n += 1;
        bytes += e.metadata().unwrap().len();
    }
    (n, bytes)
}

fn one_size(size: usize, layout: Manifests) {
    let (generated, t_gen) = timed(|| scale::generate(size, SEED, layout));
    let work = std::env::temp_dir().join(format!("netpol-scale-{size}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    generated.write_to(&work).unwrap();
    let input = generated.input_bytes();
    println!(
        "\n== {} services, {} namespaces, {} connections, {} input files, {:.1} MB input{} (generated in {t_gen:.2})",
        generated.services,
        generated.namespaces,
        generated.connections,
        generated.files.len(),
        input as f64 / 1e6,
        if layout == Manifests::PerService {
            ", one manifest file per service"
        } else {
            ""
        },
    );

    // The library, stage by stage (each query's own work: the earlier ones are cached).
    let mut dbase = Database::default();
    let ws = dbase.workspace(generated.program());
    dbase.set_manifests(ws, generated.manifests(), Vec::new());
    let ((), t_parse) = timed(|| {
        for f in ws.files(&dbase) {
            let _ = db::parse(&dbase, *f);
        }
    });
    let (_, t_manifests) = timed(|| db::manifests(&dbase, ws).workloads.len());
    let (_, t_resolve) = timed(|| db::resolved(&dbase, ws).diagnostics.len());
    let (checked, t_check) = timed(|| db::checks(&dbase, ws).len());
    let (_, t_lower) = timed(|| db::lowered(&dbase, ws).diagnostics.len());
    let (policies, t_opt) = timed(|| db::optimized(&dbase, ws).len());
    let (emitted, t_emit) = timed(|| db::emitted(&dbase, ws).clone());
    let diags = db::diagnostics(&dbase, ws);
    assert!(
        diags.iter().all(|d| !d.is_error()),
        "the generated program has errors: {}",
        dbase.render(ws, &diags[..diags.len().min(3)])
    );
    let emitted = emitted.unwrap();
    let lib_peak = own_peak_mb();
    let lib_total = t_parse + t_manifests + t_resolve + t_check + t_lower + t_opt + t_emit;
    println!(
        "library: parse {t_parse:.3}  manifests {t_manifests:.3}  resolve {t_resolve:.3}  check {t_check:.3}  lower {t_lower:.3}  optimize {t_opt:.3}  emit {t_emit:.3}  = {lib_total:.3}  (peak {lib_peak:.0} MB; {policies} policies, {checked} lint findings)"
    );
    // Translation validation (`compile --verify`): the YAML read back and proved to mean the
    // program, as a share of the compile above.
    let (verified, t_verify) = timed(|| db::verify(&dbase, ws));
    let stats = match verified {
        Some(Ok(stats)) => stats,
        Some(Err(f)) => panic!("the generated program does not verify: {}", f.message()),
        None => panic!("the emitted YAML does not read back"),
    };
    println!(
        "verify: {t_verify:.3} = {:.0}% of the compile ({} namespace classes, {} pod classes, {} verdicts; peak {:.0} MB)",
        100.0 * t_verify / lib_total.max(1e-9),
        stats.namespaces,
        stats.holders,
        stats.verdicts,
        own_peak_mb()
    );

    if std::env::var("NETPOL_BENCH_LIBRARY").is_ok() {
        // The library's stages and `verify` only (no binary runs).
        let _ = std::fs::remove_dir_all(&work);
        return;
    }

    // The floor: read every input file, write every output byte.
    let out_bytes: usize = emitted.iter().map(|d| d.yaml.len()).sum();
    let floor_dir = work.join("floor");
    std::fs::create_dir_all(&floor_dir).unwrap();
    let ((), t_floor) = timed(|| {
        for (rel, _) in &generated.files {
            let _ = std::fs::read(work.join(rel)).unwrap();
        }
        for d in &emitted {
            std::fs::write(
                floor_dir.join(format!("{}.{}.yaml", d.namespace, d.name)),
                &d.yaml,
            )
            .unwrap();
        }
    });
    let _ = std::fs::remove_dir_all(&floor_dir);

    // The binary, end to end.
    let (t_check_cli, m_check, out) = run(&["check", "."], &work);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (t_compile, m_compile, out) = run(&["compile", ".", "--out-dir", "out"], &work);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (files, bytes) = dir_bytes(&work.join("out"));
    let (t_stream, _, out) = run(&["compile", ".", "-o", "all.yaml"], &work);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    println!(
        "netpol: check {:.3} ({m_check:.0} MB)  compile --out-dir {:.3} ({m_compile:.0} MB, {:.1}x input)  compile -o {:.3}",
        t_check_cli.as_secs_f64(),
        t_compile.as_secs_f64(),
        m_compile * 1e6 / input as f64,
        t_stream.as_secs_f64(),
    );
    if std::env::var("NETPOL_BENCH_IMPORT").is_ok() {
        let (t_import, m_import, out) = run(&["import", "all.yaml"], &work);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        println!(
            "netpol: import of {} policies {:.3} ({m_import:.0} MB)",
            emitted.len(),
            t_import.as_secs_f64()
        );
    }
    println!(
        "output: {files} files, {:.1} MB ({:.1} MB of YAML); floor {t_floor:.3}; compile / floor = {:.1}",
        bytes as f64 / 1e6,
        out_bytes as f64 / 1e6,
        t_compile.as_secs_f64() / t_floor.max(1e-6)
    );
    let _ = std::fs::remove_dir_all(&work);
}
