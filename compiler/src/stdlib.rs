//! The standard library: `.netpol` modules compiled into the binary.

/// (module name, file name, source) of every `std::` module.
pub const MODULES: &[(&str, &str, &str)] = &[
    (
        "dns",
        "std/dns.netpol",
        include_str!("../../stdlib/dns.netpol"),
    ),
    (
        "ingress",
        "std/ingress.netpol",
        include_str!("../../stdlib/ingress.netpol"),
    ),
    (
        "k8s",
        "std/k8s.netpol",
        include_str!("../../stdlib/k8s.netpol"),
    ),
    (
        "monitoring",
        "std/monitoring.netpol",
        include_str!("../../stdlib/monitoring.netpol"),
    ),
    (
        "net",
        "std/net.netpol",
        include_str!("../../stdlib/net.netpol"),
    ),
    (
        "ports",
        "std/ports.netpol",
        include_str!("../../stdlib/ports.netpol"),
    ),
];
