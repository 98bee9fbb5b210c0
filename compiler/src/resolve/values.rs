//! Value validation: selectors, port numbers, address blocks, names.

use super::*;

impl<'a> Resolver<'a> {
    pub(super) fn port_values(&mut self, values: &[ast::PortValue]) -> Vec<PortRange> {
        let mut out = Vec::new();
        for v in values {
            let protocol = v.protocol.map_or(Protocol::Tcp, |(p, _)| proto(p));
            if let Some((start, end)) = self.port_range(v.start, v.end.unwrap_or(v.start), v.span) {
                out.push(PortRange {
                    protocol,
                    start,
                    end,
                });
            }
        }
        out
    }

    /// Checks a port number or range; `None` (with a diagnostic) when it is invalid.
    pub(super) fn port_range(&mut self, start: u64, end: u64, span: Span) -> Option<(u16, u16)> {
        for n in [start, end] {
            if !(1..=65535).contains(&n) {
                let shown = if n == u64::MAX {
                    "this number".to_string()
                } else {
                    format!("`{n}`")
                };
                self.err(
                    Diagnostic::new(
                        Code::PortOutOfRange,
                        span,
                        format!("port {shown} is out of range"),
                    )
                    .label("not a port")
                    .help("ports are numbers from 1 to 65535"),
                );
                return None;
            }
        }
        if end < start {
            self.err(
                Diagnostic::new(
                    Code::EmptyPortRange,
                    span,
                    format!("the port range `{start}..{end}` is empty"),
                )
                .label("the end is below the start")
                .help(format!("write `{end}..{start}`")),
            );
            return None;
        }
        Some((u16::try_from(start).ok()?, u16::try_from(end).ok()?))
    }

    pub(super) fn selector(&mut self, sel: Option<&ast::Selector>) -> Sel {
        let mut out = Sel::all();
        let Some(sel) = sel else { return out };
        for req in &sel.requirements {
            if let Some(problem) = label_key_problem(&req.key.value) {
                self.err(
                    Diagnostic::new(
                        Code::InvalidLabelKey,
                        req.key.span,
                        format!("invalid label key `{}`", req.key.value),
                    )
                    .label("Kubernetes rejects this key")
                    .help(problem),
                );
                continue;
            }
            let values: Vec<&ast::Str> = match &req.op {
                ast::ReqOp::Eq(v) | ast::ReqOp::Ne(v) => vec![v],
                ast::ReqOp::In(vs) | ast::ReqOp::NotIn(vs) => vs.iter().collect(),
                _ => Vec::new(),
            };
            let mut ok = true;
            for v in &values {
                if let Some(problem) = label_value_problem(&v.value) {
                    ok = false;
                    self.err(
                        Diagnostic::new(
                            Code::InvalidLabelValue,
                            v.span,
                            format!("invalid label value `{}`", v.value),
                        )
                        .label("Kubernetes rejects this value")
                        .help(problem),
                    );
                }
            }
            if !ok {
                continue;
            }
            if matches!(req.op, ast::ReqOp::In(_)) && values.is_empty() {
                self.err(
                    Diagnostic::new(
                        Code::UnsatisfiableSelector,
                        req.span,
                        format!("`{} in ()` matches no pod", req.key.value),
                    )
                    .label("an empty set of values")
                    .help("list at least one value"),
                );
                continue;
            }
            let c = match &req.op {
                ast::ReqOp::Eq(v) => Constraint::eq(&v.value),
                ast::ReqOp::Ne(v) => Constraint::not_in([v.value.as_str()]),
                ast::ReqOp::In(vs) => Constraint::is_in(vs.iter().map(|v| v.value.as_str())),
                ast::ReqOp::NotIn(vs) => Constraint::not_in(vs.iter().map(|v| v.value.as_str())),
                ast::ReqOp::Exists => Constraint::exists(),
                ast::ReqOp::NotExists => Constraint::does_not_exist(),
            };
            out.require(&req.key.value, c);
        }
        if out.is_unsat() {
            self.err(
                Diagnostic::new(
                    Code::UnsatisfiableSelector,
                    sel.span,
                    "no pod can match this selector",
                )
                .label("these requirements contradict each other"),
            );
        }
        out
    }

    pub(super) fn cidr(&mut self, s: &ast::Str) -> Option<IpNet> {
        let text = s.value.as_str();
        let parsed = if text.contains('/') {
            text.parse::<IpNet>().ok()
        } else {
            text.parse::<IpAddr>().ok().map(IpNet::from)
        };
        match parsed {
            None => {
                self.err(
                    Diagnostic::new(
                        Code::InvalidCidr,
                        s.span,
                        format!("`{text}` is not an address block"),
                    )
                    .label("not an IPv4 or IPv6 CIDR")
                    .help("write an address block such as `203.0.113.0/24` or `2001:db8::/32`"),
                );
                None
            }
            Some(net) if net.trunc() != net => {
                self.err(
                    Diagnostic::new(
                        Code::InvalidCidr,
                        s.span,
                        format!("`{text}` has host bits set"),
                    )
                    .label("bits beyond the prefix are not zero")
                    .help(format!("did you mean `{}`?", net.trunc())),
                );
                None
            }
            Some(net) => Some(net),
        }
    }
}

pub(super) fn dirs(i: &ast::Isolate) -> Dirs {
    let mut d = Dirs::default();
    for (dir, _) in &i.directions {
        match dir {
            ast::Direction::Ingress => d.ingress = true,
            ast::Direction::Egress => d.egress = true,
        }
    }
    d
}

pub(super) fn invalid_name(n: &ast::Name, what: &str) -> Diagnostic {
    Diagnostic::new(Code::InvalidName, n.span, format!("`{}` cannot name a Kubernetes {what}", n.text))
        .label("not a valid Kubernetes name")
        .help("use lowercase letters, digits and `-`, starting and ending with a letter or digit, at most 63 characters")
}
