//! Imports and scopes: which names each scope declares and sees.

use super::*;

impl<'a> Resolver<'a> {
    pub(super) fn import(
        &mut self,
        u: &ast::UseDecl,
        std: &[StdModule<'_>],
        loaded: &mut BTreeSet<String>,
    ) {
        let path: Vec<&str> = u.path.iter().map(|n| n.text.as_str()).collect();
        let Some(first) = u.path.first() else { return };
        if first.text != "std" {
            self.err(
                Diagnostic::new(
                    Code::UnknownModule,
                    first.span,
                    format!("unknown module `{}`", first.text),
                )
                .label("only `std` modules can be imported")
                .help(
                    "files of the program share one scope; standard-library modules are `std::…`",
                ),
            );
            return;
        }
        let Some(module_name) = u.path.get(1) else {
            self.err(
                Diagnostic::new(Code::UnknownModule, u.span, "`use std` needs a module name").help(
                    format!(
                        "the modules are {}",
                        std.iter()
                            .map(|m| format!("`std::{}`", m.name))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
            );
            return;
        };
        let Some(module) = std.iter().find(|m| m.name == module_name.text) else {
            self.err(
                Diagnostic::new(
                    Code::UnknownModule,
                    module_name.span,
                    format!("the standard library has no module `{}`", module_name.text),
                )
                .label("unknown module")
                .help_opt(did_you_mean(&module_name.text, std.iter().map(|m| m.name)))
                .help_opt(
                    if did_you_mean(&module_name.text, std.iter().map(|m| m.name)).is_none() {
                        Some(format!(
                            "the modules are {}",
                            std.iter()
                                .map(|m| format!("`std::{}`", m.name))
                                .collect::<Vec<_>>()
                                .join(", ")
                        ))
                    } else {
                        None
                    },
                ),
            );
            return;
        };
        let exported = module_names(module.ast);
        let mut wanted: Vec<(&str, Span)> = Vec::new();
        match (&u.names, path.len()) {
            (Some(list), 2) => wanted.extend(list.iter().map(|n| (n.text.as_str(), n.span))),
            (None, 2) => wanted.extend(exported.iter().map(|n| (n.as_str(), u.span))),
            (None, 3) => {
                if let Some(n) = u.path.get(2) {
                    wanted.push((n.text.as_str(), n.span));
                }
            }
            _ => {
                self.err(Diagnostic::new(
                    Code::UnknownModule,
                    u.span,
                    "a `use` path is `std::module`, `std::module::name` or `std::module::{a, b}`",
                ));
                return;
            }
        }
        loaded.insert(module.name.to_string());
        let whole = u.names.is_none() && path.len() == 2;
        for (name, span) in wanted {
            if !exported.iter().any(|e| e == name) {
                self.err(
                    Diagnostic::new(
                        Code::UnknownModule,
                        span,
                        format!("`std::{}` has no `{name}`", module.name),
                    )
                    .label("not in this module")
                    .help_opt(did_you_mean(name, exported.iter().map(String::as_str))),
                );
                continue;
            }
            let key = if whole {
                format!("std::{}", module.name)
            } else {
                name.to_string()
            };
            self.d.to_mut().imports.entry(key).or_insert(Import {
                module: module.name.to_string(),
                span,
            });
            self.imports_visible_insert(name, module.name, span);
        }
    }

    /// Makes an imported name visible; two modules may not both provide one name.
    pub(super) fn imports_visible_insert(&mut self, name: &str, module: &str, span: Span) {
        match self.d.visible.get(name) {
            Some(other) if other != module => {
                let other = other.clone();
                self.err(
                    Diagnostic::new(
                        Code::Duplicate,
                        span,
                        format!("`{name}` is imported from both `std::{other}` and `std::{module}`"),
                    )
                    .label("imported twice")
                    .help(format!("import it from one module only, e.g. `use std::{module}::{{…}}` without `{name}`")),
                );
            }
            Some(_) => {}
            None => {
                self.d
                    .to_mut()
                    .visible
                    .insert(name.to_string(), module.to_string());
            }
        }
    }

    /// Registers a peer name; false (with a diagnostic) when it is taken.
    pub(super) fn declare_peer(
        &mut self,
        scope: &Scope,
        name: &ast::Name,
        entity: Option<Entity>,
    ) -> bool {
        let key = (scope.clone(), name.text.clone());
        if let Some((_, prev)) = self.d.peers.get(&key) {
            let prev = *prev;
            self.err(
                Diagnostic::new(
                    Code::Duplicate,
                    name.span,
                    format!("`{}` is declared twice", name.text),
                )
                .label("declared again here")
                .secondary(prev, "first declared here")
                .help("services, groups and externals share one set of names"),
            );
            return false;
        }
        if scope.is_none()
            && let Some(module) = self.d.visible.get(&name.text)
        {
            let module = module.clone();
            self.err(
                Diagnostic::new(
                    Code::Duplicate,
                    name.span,
                    format!("`{}` is also imported from `std::{module}`", name.text),
                )
                .label("declared here")
                .help("rename it, or leave it out of the `use`"),
            );
            return false;
        }
        self.d.to_mut().peers.insert(
            key,
            (entity.unwrap_or(Entity::External(usize::MAX)), name.span),
        );
        true
    }

    /// The declaration key a name refers to from `scope`: the scope's own names first, then
    /// (for the user's scope) imported names.
    pub(super) fn peer_key(&self, scope: &Scope, name: &str) -> Option<(Scope, String)> {
        let own = (scope.clone(), name.to_string());
        if self.d.peers.contains_key(&own) || self.external_asts.contains_key(&own) {
            return Some(own);
        }
        if scope.is_none()
            && let Some(m) = self.d.visible.get(name)
        {
            return Some((Some(m.clone()), name.to_string()));
        }
        None
    }

    /// Records that a name was used (the unused-import lint reads these).
    pub(super) fn mark_used(&mut self, key: &(Scope, String)) {
        self.used.insert(key.clone());
    }

    pub(super) fn port_key(&self, name: &str) -> Option<(Scope, String)> {
        let own = (None, name.to_string());
        if self.d.ports.contains_key(&own) {
            return Some(own);
        }
        let m = self.d.visible.get(name)?;
        let key = (Some(m.clone()), name.to_string());
        self.d.ports.contains_key(&key).then_some(key)
    }
}

pub(super) fn scoped_name(scope: &Scope, name: &str) -> String {
    match scope {
        None => name.to_string(),
        Some(m) => format!("std::{m}::{name}"),
    }
}

/// The names a module declares (groups, externals, ports).
pub(super) fn module_names(ast: &ast::SourceFile) -> Vec<String> {
    let mut out: Vec<String> = ast
        .items
        .iter()
        .filter_map(|i| match i {
            ast::Item::Group(g) => Some(g.name.text.clone()),
            ast::Item::External(e) => Some(e.name.text.clone()),
            ast::Item::Port(p) => Some(p.name.text.clone()),
            _ => None,
        })
        .collect();
    out.sort();
    out.dedup();
    out
}
