use super::{MAX_WIDTH, format};
use crate::span::FileId;
use crate::syntax;

/// The declarations of `text` without their spans, with `/tcp` (which the formatter
/// leaves out) read as no protocol.
fn ast_without_spans(text: &str) -> String {
    let parsed = syntax::parse(FileId(0), text);
    assert!(parsed.errors.is_empty(), "{:?}\n{text}", parsed.errors);
    let debug = format!("{:?}", parsed.ast);
    let mut out = String::new();
    let mut rest = debug.as_str();
    while let Some(i) = rest.find("Span {") {
        out.push_str(&rest[..i]);
        out.push('_');
        let after = &rest[i..];
        let close = after.find('}').unwrap();
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out.replace("Some((Tcp, _))", "None")
}

fn comments(text: &str) -> Vec<String> {
    let mut c: Vec<String> = syntax::parse(FileId(0), text)
        .comments
        .into_iter()
        .map(|c| c.text)
        .collect();
    c.sort();
    c
}

/// Formatting keeps the declarations and the comments, and formats its own output
/// unchanged.
fn assert_round_trip(src: &str) -> String {
    let once = format(src).unwrap_or_else(|e| panic!("{e}\n{src}"));
    assert_eq!(
        ast_without_spans(src),
        ast_without_spans(&once),
        "{src}\n=>\n{once}"
    );
    assert_eq!(comments(src), comments(&once), "{src}\n=>\n{once}");
    let twice = format(&once).unwrap_or_else(|e| panic!("{e}\n{once}"));
    assert_eq!(once, twice, "not idempotent:\n{src}");
    once
}

#[test]
fn formats_and_is_idempotent() {
    let src = "// header\nuse std::dns\n\n\nnamespace shop{isolate ingress,egress}\nservice a in shop{ // svc\n select app=\"a\" // sel\n  // before port\n port http=8080/TCP\n}\na->kube-dns:dns // trailing\nfrontend,a   ->   a:(http,9090/udp)\n\n// end\n";
    let once = format(src).unwrap();
    let twice = format(&once).unwrap();
    assert_eq!(once, twice);
    for c in [
        "// header",
        "// svc",
        "// sel",
        "// before port",
        "// trailing",
        "// end",
    ] {
        assert!(once.contains(c), "lost {c}:\n{once}");
    }
    assert!(once.contains("service a in shop { // svc\n  select app = \"a\"  // sel\n  // before port\n  port http = 8080\n}\n"), "{once}");
    assert!(
        once.contains(
            "a           -> kube-dns:dns  // trailing\nfrontend, a -> a:(http, 9090/udp)"
        ),
        "{once}"
    );
}

#[test]
fn the_cluster_block_is_laid_out_one_statement_a_line() {
    let src = "cluster {   // kubeadm's defaults\npods 10.244.0.0/16,fd00:10:244::/56   services 10.96.0.0/12\n\n  // and IPv6\n services fd00:10:96::/112 }\ncluster -> web:80\n";
    assert_eq!(
        assert_round_trip(src),
        "cluster { // kubeadm's defaults\n  pods 10.244.0.0/16, fd00:10:244::/56\n  services 10.96.0.0/12\n\n  // and IPv6\n  services fd00:10:96::/112\n}\ncluster -> web:80\n"
    );
}

#[test]
fn refuses_files_with_syntax_errors() {
    assert!(format("service {").is_err());
}

#[test]
fn keeps_blank_lines_around_comments() {
    let src = "// header\n\nuse std::dns\n\n// about ns\n\nnamespace a\n";
    assert_eq!(format(src).unwrap(), src);
    // Several blank lines become one; between comments too; none at the start or end.
    let src = "\n\n// one\n\n\n// two\n// three\n\n\n\ngroup g = namespace a\n\n\n// tail\n\n\n";
    assert_eq!(
        format(src).unwrap(),
        "// one\n\n// two\n// three\n\ngroup g = namespace a\n\n// tail\n"
    );
    // Inside blocks, but never right after `{` or right before `}`.
    let src = "test \"t\" {\n\n  allowed a -> b:1\n\n\n  // why\n\n  denied a -> c:1\n  denied a -> d:1\n\n}\n";
    assert_eq!(
        format(src).unwrap(),
        "test \"t\" {\n  allowed a -> b:1\n\n  // why\n\n  denied a -> c:1\n  denied a -> d:1\n}\n"
    );
    // A blank line or a comment ends an alignment run.
    let src = "a -> b:1\nlonger -> b:1\n\nx -> b:1\n// c\nxyz -> b:1\n";
    assert_eq!(
        format(src).unwrap(),
        "a      -> b:1\nlonger -> b:1\n\nx -> b:1\n// c\nxyz -> b:1\n"
    );
    for src in [
        "// header\n\nuse std::dns\n\n// about ns\n\nnamespace a\n",
        "namespace a {\n  isolate ingress\n\n  // e\n  isolate egress\n}\n\n// end\n",
    ] {
        assert_round_trip(src);
    }
}

#[test]
fn comments_inside_a_run_keep_their_place() {
    // The comment inside the second connection moves before it, not before the first.
    let src = "a -> b:1\nc,\n  // inner\n  d -> b:1\n";
    assert_eq!(assert_round_trip(src), "a -> b:1\n// inner\nc, d -> b:1\n");
    // A comment after a block's closing brace stays after it.
    assert_eq!(
        assert_round_trip("service s in n { select app } // after\n"),
        "service s in n {\n  select app\n}  // after\n"
    );
}

#[test]
fn wraps_long_connections() {
    let src = "frontend, checkout, cartservice, recommendationservice, loadgenerator, shippingservice -> kube-dns:dns, internet:443\n";
    let out = assert_round_trip(src);
    assert_eq!(
        out,
        "frontend, checkout, cartservice, recommendationservice, loadgenerator,\n    shippingservice -> kube-dns:dns, internet:443\n"
    );
    // Many targets: every line fits, continuation lines are indented, `->` stays with the
    // last source and the first target.
    let targets: Vec<String> = (0..30).map(|i| format!("service-{i}:grpc")).collect();
    let src = format!(
        "// calls\nweb -> a:1\nfrontend, checkout -> {} // all\napi -> b:2\n",
        targets.join(", ")
    );
    let out = assert_round_trip(&src);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "// calls");
    // The wrapped connection is not aligned with its neighbours, nor they with each other.
    assert_eq!(lines[1], "web -> a:1");
    assert!(
        lines[2].starts_with("frontend, checkout -> service-0:grpc, "),
        "{out}"
    );
    assert_eq!(*lines.last().unwrap(), "api -> b:2");
    let wrapped = &lines[2..lines.len() - 1];
    assert!(wrapped.len() > 2, "{out}");
    for (i, l) in wrapped.iter().enumerate() {
        assert!(l.chars().count() <= MAX_WIDTH, "too long: {l}");
        assert_eq!(i > 0, l.starts_with("    "), "{out}");
        assert!(!l.starts_with("     "), "{out}");
        if i + 1 < wrapped.len() {
            assert!(l.ends_with(','), "{out}");
        }
    }
    assert!(
        wrapped.last().unwrap().ends_with("service-29:grpc  // all"),
        "{out}"
    );
    // Exactly 100 columns stays on one line; 101 wraps.
    let fits = format!("a -> {}:1\n", "b".repeat(MAX_WIDTH - 7));
    assert_eq!(format(&fits).unwrap(), fits);
    let long = format!("a, c -> {}:1\n", "b".repeat(MAX_WIDTH - 9));
    assert_eq!(
        assert_round_trip(&long),
        format!("a,\n    c -> {}:1\n", "b".repeat(MAX_WIDTH - 9))
    );
    // A peer too long for any line goes on a line of its own.
    let huge = format!(
        "x, y, pods {{ app = \"{}\" }} in cluster -> z:1\n",
        "v".repeat(120)
    );
    let out = assert_round_trip(&huge);
    assert_eq!(out.lines().count(), 2, "{out}");
    assert!(out.starts_with("x, y,\n    pods {"), "{out}");
}

/// Every `.netpol` file under `dir`, recursively.
#[allow(
    clippy::disallowed_methods,
    reason = "a test reading the repository's own files; the library itself does no I/O"
)]
fn netpol_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            netpol_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "netpol") {
            out.push(path);
        }
    }
}

#[test]
#[allow(
    clippy::disallowed_methods,
    reason = "a test reading the repository's own files; the library itself does no I/O"
)]
fn examples_and_stdlib_are_stable_and_keep_their_comments() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut files = Vec::new();
    netpol_files(&root.join("examples"), &mut files);
    netpol_files(&root.join("stdlib"), &mut files);
    assert!(files.len() >= 10, "{files:?}");
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let once = format(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let twice = format(&once).unwrap();
        assert_eq!(once, twice, "{} is not formatted stably", path.display());
        assert_eq!(
            comments(&text),
            comments(&once),
            "{} lost or changed comments",
            path.display()
        );
        assert_eq!(
            ast_without_spans(&text),
            ast_without_spans(&once),
            "{}",
            path.display()
        );
    }
}

/// SplitMix64: a tiny seeded generator, so the generated programs are the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// Generates valid programs with irregular layout: odd spacing, line breaks inside
/// declarations, comments everywhere a comment may go, runs of blank lines.
struct Gen {
    rng: Rng,
    comments: usize,
}

const NAMES: &[&str] = &[
    "a",
    "web",
    "db-1",
    "kube_dns",
    "x2",
    "frontend",
    "inbound",
    "notify",
    "pods2",
    "services-a",
    "clusterwide",
    "exceptional",
    "_p",
    "recommendationservice",
    "productcatalogservice",
];
const KEYS: &[&str] = &[
    "app",
    "tier",
    "app.kubernetes.io/name",
    "k8s-app",
    "_x",
    "a/b",
    "internal",
    "note",
];

impl Gen {
    fn comment(&mut self) -> String {
        self.comments += 1;
        format!(
            "// c{} {}",
            self.comments,
            self.rng.pick(&["", "x", "-> y:1", "\"q\"", "ü {"])
        )
    }

    /// White space between two tokens of one declaration or statement.
    fn sp(&mut self) -> String {
        match self.rng.below(20) {
            0 => "\n    ".to_string(),
            1 => format!(" {}\n      ", self.comment()),
            2 => "  ".to_string(),
            3 => "\t".to_string(),
            4 => "\n\n  ".to_string(),
            _ => " ".to_string(),
        }
    }

    fn name(&mut self) -> String {
        self.rng.pick(NAMES).to_string()
    }

    fn string(&mut self) -> String {
        let inner = self.rng.pick(&[
            "web",
            "",
            "a b",
            "with \\\"quotes\\\"",
            "back\\\\slash",
            "\\\\\\\"",
            "ü",
            "k8s/*.yaml",
            "// not a comment",
        ]);
        format!("\"{inner}\"")
    }

    fn value(&mut self) -> String {
        if self.rng.chance(50) {
            self.string()
        } else {
            self.rng
                .pick(&["web", "v1.2", "x_y", "0", "inner"])
                .to_string()
        }
    }

    fn values(&mut self) -> String {
        let n = self.rng.below(4);
        let vs: Vec<String> = (0..n).map(|_| self.value()).collect();
        let comma = if n > 0 && self.rng.chance(20) {
            ","
        } else {
            ""
        };
        format!("({}{comma})", vs.join(", "))
    }

    fn selector(&mut self) -> String {
        let n = 1 + self.rng.below(3);
        let reqs: Vec<String> = (0..n)
            .map(|_| {
                let key = self.rng.pick(KEYS);
                match self.rng.below(6) {
                    0 => format!("{key}{}={}{}", self.sp(), self.sp(), self.value()),
                    1 => format!("{key} != {}", self.value()),
                    2 => format!("{key} in {}", self.values()),
                    3 => format!("{key} not in{}{}", self.sp(), self.values()),
                    4 => format!("!{key}"),
                    _ => key.to_string(),
                }
            })
            .collect();
        let sep = format!(",{}", self.sp());
        reqs.join(&sep)
    }

    fn braces(&mut self) -> String {
        if self.rng.chance(25) {
            "{}".to_string()
        } else {
            format!("{{{}{}{}}}", self.sp(), self.selector(), self.sp())
        }
    }

    fn pod_set(&mut self) -> String {
        match self.rng.below(3) {
            0 => {
                let scope = match self.rng.below(3) {
                    0 => format!("namespace {}", self.name()),
                    1 => format!("namespaces {}", self.braces()),
                    _ => "cluster".to_string(),
                };
                format!(
                    "pods{}{}{}in{}{scope}",
                    self.sp(),
                    self.braces(),
                    self.sp(),
                    self.sp()
                )
            }
            1 => format!("namespace{}{}", self.sp(), self.name()),
            _ => format!("namespaces {}", self.braces()),
        }
    }

    fn peer(&mut self) -> String {
        match self.rng.below(10) {
            0 => self.pod_set(),
            1 => "cluster".to_string(),
            2 => "services".to_string(),
            _ => self.name(),
        }
    }

    fn protocol(&mut self) -> String {
        if self.rng.chance(30) {
            format!("/{}", self.rng.pick(&["tcp", "TCP", "udp", "Udp", "sctp"]))
        } else {
            String::new()
        }
    }

    fn number(&mut self) -> String {
        self.rng
            .pick(&[
                "80",
                "443",
                "0",
                "8080",
                "007",
                "65535",
                "99999999999999999999999",
            ])
            .to_string()
    }

    fn port_item(&mut self) -> String {
        let base = match self.rng.below(4) {
            0 => "*".to_string(),
            1 => format!("{}..{}", self.number(), self.number()),
            2 => self.number(),
            _ => self.rng.pick(&["http", "grpc", "dns", "https"]).to_string(),
        };
        format!("{base}{}", self.protocol())
    }

    fn target(&mut self) -> String {
        let peer = self.peer();
        match self.rng.below(8) {
            0 => peer,
            1 | 2 => {
                let n = 1 + self.rng.below(3);
                let items: Vec<String> = (0..n).map(|_| self.port_item()).collect();
                format!("{peer}:({})", items.join(", "))
            }
            _ => format!("{peer}:{}", self.port_item()),
        }
    }

    fn list(&mut self, max: usize, f: fn(&mut Gen) -> String) -> String {
        let n = 1 + self.rng.below(max);
        let mut s = f(self);
        for _ in 1..n {
            let sp = self.sp();
            s.push(',');
            s.push_str(&sp);
            s.push_str(&f(self));
        }
        s
    }

    fn connection(&mut self) -> String {
        let (ns, nt) = if self.rng.chance(30) { (8, 8) } else { (3, 3) };
        let sources = self.list(ns, Gen::peer);
        let targets = self.list(nt, Gen::target);
        format!("{sources}{}->{}{targets}", self.sp(), self.sp())
    }

    /// White space between two statements of a block.
    fn stmt_sep(&mut self) -> String {
        match self.rng.below(8) {
            0 => "\n\n  ".to_string(),
            1 => format!("\n  {}\n  ", self.comment()),
            2 => format!(" {}\n  ", self.comment()),
            3 => " ".to_string(),
            4 => "\n\n\n  ".to_string(),
            _ => "\n  ".to_string(),
        }
    }

    fn block(&mut self, stmts: Vec<String>) -> String {
        let mut s = String::from("{");
        s.push_str(&self.stmt_sep());
        for st in stmts {
            s.push_str(&st);
            s.push_str(&self.stmt_sep());
        }
        s.push('}');
        s
    }

    fn isolate(&mut self) -> String {
        let d = ["ingress", "egress"];
        match self.rng.below(3) {
            0 => format!("isolate {}", d[self.rng.below(2)]),
            1 => format!("isolate ingress,{}egress", self.sp()),
            _ => "isolate egress, ingress".to_string(),
        }
    }

    fn port_values(&mut self) -> String {
        let n = 1 + self.rng.below(3);
        let vs: Vec<String> = (0..n)
            .map(|_| {
                let base = if self.rng.chance(30) {
                    format!("{}..{}", self.number(), self.number())
                } else {
                    self.number()
                };
                format!("{base}{}", self.protocol())
            })
            .collect();
        vs.join(", ")
    }

    fn item(&mut self) -> String {
        match self.rng.below(14) {
            0 => {
                if self.rng.chance(50) {
                    format!("use std::{}", self.name())
                } else {
                    let n = 1 + self.rng.below(3);
                    let names: Vec<String> = (0..n).map(|_| self.name()).collect();
                    format!("use std::net::{{{}}}", names.join(", "))
                }
            }
            1 => {
                let n = 1 + self.rng.below(2);
                let globs: Vec<String> = (0..n).map(|_| self.string()).collect();
                let ns = if self.rng.chance(50) {
                    format!(" in namespace {}", self.name())
                } else {
                    String::new()
                };
                format!("workloads {}{ns}", globs.join(", "))
            }
            2 => {
                let n = self.rng.below(3);
                let body = if n == 0 && self.rng.chance(50) {
                    String::new()
                } else {
                    let stmts = (0..n).map(|_| self.isolate()).collect();
                    format!("{}{}", self.sp(), self.block(stmts))
                };
                format!("namespace {}{body}", self.name())
            }
            3 => {
                let n = self.rng.below(5);
                let stmts = (0..n)
                    .map(|_| match self.rng.below(3) {
                        0 => format!("select{}{}", self.sp(), self.selector()),
                        1 => {
                            format!("port {} ={}{}", self.name(), self.sp(), self.port_values())
                        }
                        _ => self.isolate(),
                    })
                    .collect();
                format!(
                    "service {} in {}{}{}",
                    self.name(),
                    self.name(),
                    self.sp(),
                    self.block(stmts)
                )
            }
            4 => format!(
                "group {}{}={}{}",
                self.name(),
                self.sp(),
                self.sp(),
                self.pod_set()
            ),
            5 => {
                let cidr = |g: &mut Gen| {
                    if g.rng.chance(70) {
                        g.rng
                            .pick(&[
                                "10.0.0.0/8",
                                "192.168.1.1",
                                "::1/128",
                                "fe80::/10",
                                "1.2.3.4/32",
                            ])
                            .to_string()
                    } else {
                        g.name()
                    }
                };
                let blocks = self.list(3, cidr);
                let except = if self.rng.chance(30) {
                    format!(" except {}", self.list(2, cidr))
                } else {
                    String::new()
                };
                format!("external {} = {blocks}{except}", self.name())
            }
            6 => format!(
                "port {}{}={}{}",
                self.name(),
                self.sp(),
                self.sp(),
                self.port_values()
            ),
            7 => {
                let n = self.rng.below(4);
                let stmts = (0..n)
                    .map(|_| {
                        let verdict = self.rng.pick(&["allowed", "denied"]);
                        format!(
                            "{verdict} {}{}->{}{}",
                            self.peer(),
                            self.sp(),
                            self.sp(),
                            self.target()
                        )
                    })
                    .collect();
                format!("test {} {}", self.string(), self.block(stmts))
            }
            8 => {
                let n = self.rng.below(4);
                let stmts = (0..n)
                    .map(|_| {
                        let kind = self.rng.pick(&["pods", "services"]);
                        let cidrs = self.list(3, |g| {
                            g.rng
                                .pick(&[
                                    "10.244.0.0/16",
                                    "fd00:10:244::/56",
                                    "10.96.0.0/12",
                                    "192.0.2.1",
                                ])
                                .to_string()
                        });
                        format!("{kind} {cidrs}")
                    })
                    .collect();
                format!("cluster {}", self.block(stmts))
            }
            _ => self.connection(),
        }
    }

    /// White space between two declarations.
    fn item_sep(&mut self) -> String {
        match self.rng.below(10) {
            0 => "\n\n".to_string(),
            1 => format!("\n{}\n", self.comment()),
            2 => format!("\n\n{}\n\n\n{}\n", self.comment(), self.comment()),
            3 => format!("  {}\n", self.comment()),
            4 => "\n\n\n\n".to_string(),
            5 => format!("\n{}\n\n", self.comment()),
            _ => "\n".to_string(),
        }
    }

    fn program(&mut self) -> String {
        let mut s = String::new();
        if self.rng.chance(50) {
            s.push_str(&self.comment());
            s.push_str(if self.rng.chance(50) { "\n\n" } else { "\n" });
        }
        let n = self.rng.below(12);
        for _ in 0..n {
            s.push_str(&self.item());
            s.push_str(&self.item_sep());
        }
        if self.rng.chance(30) {
            s.push_str(&self.comment());
        }
        s
    }
}

#[test]
fn generated_programs_round_trip() {
    let mut g = Gen {
        rng: Rng(0x6E65_7470_6F6C),
        comments: 0,
    };
    let mut wrapped = 0;
    for _ in 0..400 {
        let src = g.program();
        let out = assert_round_trip(&src);
        if out
            .lines()
            .any(|l| l.starts_with("    ") && !l.trim_start().starts_with("//"))
        {
            wrapped += 1;
        }
    }
    // The generator makes some connections long enough to wrap.
    assert!(
        wrapped > 10,
        "only {wrapped} programs had wrapped connections"
    );
}
