//! What a regeneration changes in the Rust API a generated crate exposes: public types,
//! fields, variants, methods, functions, constants and trait impls added, removed or changed,
//! each marked breaking or compatible, so a reviewer sees a breaking spec change before it is
//! merged. Read from the two versions of the generated file itself (syn), so it reports what
//! the code says, whatever in the spec or the generator caused it.
//!
//! Rules, after Rust's semver conventions: removing or changing anything is breaking; adding
//! a public field to a struct whose fields are all public breaks struct literals, and adding a
//! variant to an enum breaks exhaustive `match`es, unless the type is `#[non_exhaustive]`;
//! every other addition is compatible.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::{Context, Result};
use quote::ToTokens;

/// One public item, by a name that says where it is (`field types::AuditEvent.id`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Item {
    /// Its signature or type, as tokens; a change of it is a breaking change.
    signature: String,
    /// For a field or a variant: whether adding one like it breaks users.
    addition_breaks: bool,
}

/// What changed about one item.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub what: What,
    pub item: String,
    pub breaking: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum What {
    Added,
    Removed,
    Changed,
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.what {
            What::Added => "added",
            What::Removed => "removed",
            What::Changed => "changed",
        };
        let kind = if self.breaking {
            "breaking"
        } else {
            "compatible"
        };
        write!(f, "{kind:>10}: {what} {}", self.item)
    }
}

/// The changes from `old` to `new`, two versions of one generated file: breaking ones first,
/// each group in name order.
pub fn diff(old: &str, new: &str) -> Result<Vec<Change>> {
    let (old, new) = (surface(old)?, surface(new)?);
    let mut changes = Vec::new();
    for (name, before) in &old {
        match new.get(name) {
            None => changes.push(Change {
                what: What::Removed,
                item: name.clone(),
                breaking: true,
            }),
            Some(after) if after.signature != before.signature => changes.push(Change {
                what: What::Changed,
                item: format!("{name}: {} -> {}", before.signature, after.signature),
                breaking: true,
            }),
            Some(_) => {}
        }
    }
    for (name, after) in &new {
        if !old.contains_key(name) {
            changes.push(Change {
                what: What::Added,
                item: name.clone(),
                breaking: after.addition_breaks,
            });
        }
    }
    changes.sort_by(|a, b| b.breaking.cmp(&a.breaking).then(a.item.cmp(&b.item)));
    Ok(changes)
}

/// Every public item of a file, by name.
fn surface(code: &str) -> Result<BTreeMap<String, Item>> {
    let file = syn::parse_file(code).context("not valid Rust")?;
    let mut items = BTreeMap::new();
    walk(&file.items, "", &mut items);
    Ok(items)
}

fn tokens(node: &impl ToTokens) -> String {
    node.to_token_stream().to_string()
}

fn is_pub(visibility: &syn::Visibility) -> bool {
    matches!(visibility, syn::Visibility::Public(_))
}

fn non_exhaustive(attrs: &[syn::Attribute]) -> bool {
    attrs
        .iter()
        .any(|attr| attr.path().is_ident("non_exhaustive"))
}

/// What a type's users rely on besides its fields: its generics, its derives (a lost
/// `Default` breaks `..Default::default()`) and whether it is `#[non_exhaustive]`.
fn type_signature(generics: &syn::Generics, attrs: &[syn::Attribute]) -> String {
    let mut signature = tokens(generics);
    for attr in attrs {
        if attr.path().is_ident("derive") || attr.path().is_ident("non_exhaustive") {
            signature.push(' ');
            signature.push_str(&tokens(attr));
        }
    }
    signature
}

fn plain(signature: String) -> Item {
    Item {
        signature,
        addition_breaks: false,
    }
}

fn walk(items: &[syn::Item], prefix: &str, out: &mut BTreeMap<String, Item>) {
    for item in items {
        match item {
            syn::Item::Mod(module) if is_pub(&module.vis) => {
                if let Some((_, inner)) = &module.content {
                    walk(inner, &format!("{prefix}{}::", module.ident), out);
                }
            }
            syn::Item::Struct(s) if is_pub(&s.vis) => {
                let name = format!("{prefix}{}", s.ident);
                out.insert(
                    format!("struct {name}"),
                    plain(type_signature(&s.generics, &s.attrs)),
                );
                let all_public = s.fields.iter().all(|field| is_pub(&field.vis));
                let literal_breaks = all_public && !non_exhaustive(&s.attrs);
                for (n, field) in s.fields.iter().enumerate() {
                    if !is_pub(&field.vis) {
                        continue;
                    }
                    let field_name = field
                        .ident
                        .as_ref()
                        .map_or_else(|| n.to_string(), ToString::to_string);
                    out.insert(
                        format!("field {name}.{field_name}"),
                        Item {
                            signature: tokens(&field.ty),
                            addition_breaks: literal_breaks,
                        },
                    );
                }
            }
            syn::Item::Enum(e) if is_pub(&e.vis) => {
                let name = format!("{prefix}{}", e.ident);
                out.insert(
                    format!("enum {name}"),
                    plain(type_signature(&e.generics, &e.attrs)),
                );
                let match_breaks = !non_exhaustive(&e.attrs);
                for variant in &e.variants {
                    out.insert(
                        format!("variant {name}::{}", variant.ident),
                        Item {
                            signature: tokens(&variant.fields),
                            addition_breaks: match_breaks,
                        },
                    );
                }
            }
            syn::Item::Type(t) if is_pub(&t.vis) => {
                out.insert(format!("type {prefix}{}", t.ident), plain(tokens(&t.ty)));
            }
            syn::Item::Const(c) if is_pub(&c.vis) => {
                out.insert(format!("const {prefix}{}", c.ident), plain(tokens(&c.ty)));
            }
            syn::Item::Static(item) if is_pub(&item.vis) => {
                out.insert(
                    format!("static {prefix}{}", item.ident),
                    plain(tokens(&item.ty)),
                );
            }
            syn::Item::Use(item) if is_pub(&item.vis) => {
                out.insert(
                    format!("use {prefix}{}", tokens(&item.tree)),
                    plain(String::new()),
                );
            }
            syn::Item::Trait(item) if is_pub(&item.vis) => {
                let name = format!("{prefix}{}", item.ident);
                out.insert(format!("trait {name}"), plain(tokens(&item.generics)));
                for inner in &item.items {
                    if let syn::TraitItem::Fn(method) = inner {
                        out.insert(
                            format!("trait method {name}::{}", method.sig.ident),
                            plain(tokens(&method.sig)),
                        );
                    }
                }
            }
            syn::Item::Fn(f) if is_pub(&f.vis) => {
                out.insert(format!("fn {prefix}{}", f.sig.ident), plain(tokens(&f.sig)));
            }
            syn::Item::Impl(block) => {
                let self_type = tokens(&block.self_ty);
                if let Some((trait_path, _)) = &block.trait_ {
                    // The impl is the API, with its associated types (`type Error`).
                    let name = format!(
                        "impl {}{} for {prefix}{self_type}",
                        tokens(&block.generics),
                        tokens(trait_path)
                    );
                    let associated: Vec<String> = block
                        .items
                        .iter()
                        .filter_map(|inner| match inner {
                            syn::ImplItem::Type(ty) => Some(tokens(ty)),
                            _ => None,
                        })
                        .collect();
                    out.insert(name, plain(associated.join(" ")));
                    continue;
                }
                for inner in &block.items {
                    match inner {
                        syn::ImplItem::Fn(method) if is_pub(&method.vis) => {
                            out.insert(
                                format!("method {prefix}{self_type}::{}", method.sig.ident),
                                plain(tokens(&method.sig)),
                            );
                        }
                        syn::ImplItem::Const(constant) if is_pub(&constant.vis) => {
                            out.insert(
                                format!("const {prefix}{self_type}::{}", constant.ident),
                                plain(tokens(&constant.ty)),
                            );
                        }
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
}

/// The report `cargo xtask generate` prints for one file.
pub fn report(output: &str, old: &str, new: &str) -> Result<String> {
    let changes = diff(old, new).with_context(|| format!("cannot read the API of {output}"))?;
    if changes.is_empty() {
        return Ok(format!("{output}: public API unchanged"));
    }
    let breaking = changes.iter().filter(|c| c.breaking).count();
    let mut text = format!(
        "{output}: public API changes: {breaking} breaking, {} compatible",
        changes.len() - breaking
    );
    for change in &changes {
        text.push_str(&format!("\n  {change}"));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changes(old: &str, new: &str) -> Vec<String> {
        diff(old, new)
            .unwrap()
            .iter()
            .map(ToString::to_string)
            .map(|line| line.trim().to_owned())
            .collect()
    }

    #[test]
    fn removals_and_changes_break_and_additions_mostly_do_not() {
        let old = "pub mod types {
            pub struct Event { pub id: Option<String>, pub name: String }
            #[non_exhaustive] pub struct Open { pub a: u8 }
            pub enum Kind { A, B(u8) }
            #[non_exhaustive] pub enum Loose { A }
            impl Event { pub fn builder() -> u8 { 0 } fn private() {} }
        }";
        let new = "pub mod types {
            pub struct Event { pub id: String, pub extra: u8 }
            #[non_exhaustive] pub struct Open { pub a: u8, pub b: u8 }
            pub enum Kind { A, B(u8), C }
            #[non_exhaustive] pub enum Loose { A, B }
            impl Event { pub fn builder() -> u8 { 0 } pub fn fresh(&self) {} }
            impl From<u8> for Event { fn from(_: u8) -> Self { todo!() } }
        }";
        assert_eq!(
            changes(old, new),
            [
                "breaking: added field types::Event.extra",
                "breaking: changed field types::Event.id: Option < String > -> String",
                "breaking: removed field types::Event.name",
                "breaking: added variant types::Kind::C",
                "compatible: added field types::Open.b",
                "compatible: added impl From < u8 > for types::Event",
                "compatible: added method types::Event::fresh",
                "compatible: added variant types::Loose::B",
            ]
        );
    }

    #[test]
    fn derives_statics_uses_traits_and_associated_types_are_the_api_too() {
        let old = "#[derive(Default)] pub struct A { pub x: u8 }
            pub enum E { V }
            pub static TABLE: [u8; 2] = [0, 0];
            pub use inner::Thing;
            pub trait T { fn f(&self); }
            impl TryFrom<u8> for A { type Error = String; fn try_from(_: u8) -> Result<Self, String> { todo!() } }";
        let new = "pub struct A { pub x: u8 }
            #[non_exhaustive] pub enum E { V }
            pub static TABLE: [u8; 3] = [0, 0, 0];
            pub trait T { fn f(&self); fn g(&self); }
            impl TryFrom<u8> for A { type Error = u8; fn try_from(_: u8) -> Result<Self, u8> { todo!() } }";
        let found = changes(old, new);
        for prefix in [
            "breaking: changed enum E:",
            "breaking: changed impl TryFrom < u8 > for A:",
            "breaking: changed static TABLE:",
            "breaking: changed struct A:",
            "breaking: removed use inner :: Thing",
            "compatible: added trait method T::g",
        ] {
            assert!(
                found.iter().any(|line| line.starts_with(prefix)),
                "{prefix}: {found:?}"
            );
        }
    }

    #[test]
    fn private_items_and_bodies_are_not_the_api() {
        let old = "pub fn f(x: u8) -> u8 { x } fn hidden() {} struct Private { pub a: u8 }";
        let new = "pub fn f(x: u8) -> u8 { x + 1 } fn hidden2() {} struct Private { pub b: u8 }";
        assert!(changes(old, new).is_empty());
    }

    /// A property removed from a copy of the Graph spec shows as breaking changes of the
    /// model and of its builder; one added, as compatible builder methods and a field that
    /// breaks struct literals.
    #[test]
    fn an_altered_spec_reports_its_api_changes() {
        let target = &crate::generate::TARGETS[0];
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let spec = std::fs::read_to_string(root.join(target.spec)).unwrap();
        let committed = std::fs::read_to_string(root.join(target.output)).unwrap();

        let component = "        componentName:\n          type: string\n          nullable: true\n          description: Component name.\n          x-auditkit-filterable: true\n          x-auditkit-sortable: true\n";
        assert!(spec.contains(component), "the spec's componentName moved");
        let without = spec.replacen(component, "", 1);
        let generated = crate::generate::generate(target, &without).unwrap();
        let text = super::report(target.output, &committed, &generated).unwrap();
        for line in [
            "breaking: removed field types::AuditEvent.component_name",
            "breaking: removed method types::builder::AuditEvent::component_name",
        ] {
            assert!(text.contains(line), "{line}:\n{text}");
        }
        assert!(!text.contains("compatible: added"), "{text}");

        let riskier = spec.replacen(
            component,
            &format!(
                "{component}        riskLevel:\n          type: string\n          nullable: true\n"
            ),
            1,
        );
        let generated = crate::generate::generate(target, &riskier).unwrap();
        let text = super::report(target.output, &committed, &generated).unwrap();
        for line in [
            "breaking: added field types::AuditEvent.risk_level",
            "compatible: added method types::builder::AuditEvent::risk_level",
        ] {
            assert!(text.contains(line), "{line}:\n{text}");
        }
        assert!(!text.contains("removed"), "{text}");
        assert_eq!(
            super::report(target.output, &committed, &committed).unwrap(),
            format!("{}: public API unchanged", target.output)
        );
    }
}
