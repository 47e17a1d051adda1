//! The property paths `$filter`, `$orderby` and `$select` accept, derived once from the
//! generated property table of `auditEvent` (`auditkit_graph::properties`), so a property the
//! spec adds or marks `x-auditkit-filterable` / `x-auditkit-sortable` is accepted here without
//! a line of this crate changing.

use std::sync::LazyLock;

use auditkit_graph::properties::{AUDIT_EVENT, EdmType, Model, Property};

use super::ODataError;

/// The static type of an operand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Str,
    DateTime,
    Guid,
    Int,
    Bool,
    Null,
    Complex,
}

impl Kind {
    pub(super) fn describe(self) -> &'static str {
        match self {
            Kind::Str => "a string",
            Kind::DateTime => "a date-time",
            Kind::Guid => "a guid",
            Kind::Int => "an integer",
            Kind::Bool => "a boolean",
            Kind::Null => "null",
            Kind::Complex => "a complex value",
        }
    }

    /// The kind of an Edm type, when the emulator can compare its values (it has no literal
    /// for `Edm.Double`).
    fn of(edm: EdmType) -> Option<Self> {
        match edm {
            EdmType::String => Some(Kind::Str),
            EdmType::DateTimeOffset => Some(Kind::DateTime),
            EdmType::Guid => Some(Kind::Guid),
            EdmType::Int32 | EdmType::Int64 => Some(Kind::Int),
            EdmType::Boolean => Some(Kind::Bool),
            EdmType::Complex(_) => Some(Kind::Complex),
            _ => None,
        }
    }
}

/// A property path such as `actor/userPrincipalName`, resolved to the table rows it walks
/// from the event down.
#[derive(PartialEq, Eq)]
pub(super) struct Path {
    /// As written on the wire.
    pub(super) name: String,
    pub(super) steps: Vec<&'static Property>,
    pub(super) kind: Kind,
    pub(super) sortable: bool,
}

impl std::fmt::Debug for Path {
    /// The name alone: the rows hold whole nested tables.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?} ({:?})", self.name, self.kind)
    }
}

/// What the table says about every path under `auditEvent`.
struct Paths {
    /// Filterable paths, in table order.
    filterable: Vec<Path>,
    /// Collections reachable from the event or a filterable nested object: they exist, but
    /// comparing them needs `any`/`all`, which this emulator does not implement.
    collections: Vec<String>,
    /// Scalars the spec does not mark filterable.
    other: Vec<String>,
}

/// How deep nested objects are followed; the spec's models nest one level (`actor`).
const MAX_PATH_DEPTH: usize = 4;

static PATHS: LazyLock<Paths> = LazyLock::new(|| Paths::of(&AUDIT_EVENT));

impl Paths {
    fn of(model: &'static Model) -> Self {
        let mut paths = Paths {
            filterable: Vec::new(),
            collections: Vec::new(),
            other: Vec::new(),
        };
        walk(model, "", &[], &mut paths);
        paths
    }
}

fn walk(model: &'static Model, prefix: &str, above: &[&'static Property], paths: &mut Paths) {
    for property in model.properties {
        let name = format!("{prefix}{}", property.json_name);
        let kind = Kind::of(property.edm_type);
        if property.collection {
            paths.collections.push(name);
            continue;
        }
        let Some(kind) = kind.filter(|_| property.filterable) else {
            paths.other.push(name);
            continue;
        };
        let mut steps = above.to_vec();
        steps.push(property);
        if let EdmType::Complex(nested) = property.edm_type
            && steps.len() < MAX_PATH_DEPTH
        {
            walk(nested, &format!("{name}/"), &steps, paths);
        }
        paths.filterable.push(Path {
            name,
            steps,
            kind,
            sortable: property.sortable,
        });
    }
}

/// `; did you mean 'x'?` when `name` matches a known name but for case.
pub(super) fn did_you_mean<'a>(
    name: &str,
    known: impl IntoIterator<Item = &'a str>,
) -> Option<String> {
    known
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(name))
        .map(|k| format!("did you mean '{k}'? names are case-sensitive"))
}

/// Resolves a property path for `$filter` and `$orderby`.
pub(super) fn lookup(name: &str, position: usize) -> Result<&'static Path, ODataError> {
    let paths = &*PATHS;
    if let Some(path) = paths.filterable.iter().find(|path| path.name == name) {
        return Ok(path);
    }
    if paths.collections.iter().any(|known| known == name) {
        return Err(ODataError::invalid_hint(
            format!("property '{name}' is a collection and cannot be compared or sorted"),
            position,
            "any/all lambdas are not supported",
        ));
    }
    if paths.other.iter().any(|known| known == name) {
        return Err(ODataError::invalid(
            format!("property '{name}' cannot be compared or sorted"),
            position,
        ));
    }
    let known = paths
        .filterable
        .iter()
        .map(|path| path.name.as_str())
        .chain(paths.collections.iter().map(String::as_str));
    Err(ODataError::UnknownProperty {
        name: name.to_owned(),
        position,
        hint: did_you_mean(name, known),
    })
}

/// The top-level properties `$select` accepts: every property of `auditEvent` but OData
/// control information (`@odata.type`), which is not a property one selects.
pub(super) fn selectable() -> impl Iterator<Item = &'static str> {
    AUDIT_EVENT
        .properties
        .iter()
        .map(|property| property.json_name)
        .filter(|name| !name.starts_with('@'))
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn row(json_name: &'static str, edm_type: EdmType) -> Property {
        Property {
            json_name,
            rust_name: json_name,
            edm_type,
            collection: false,
            filterable: true,
            sortable: true,
            nullable: true,
        }
    }

    static INNER: Model = Model {
        schema: "test.inner",
        rust_name: "Inner",
        properties: &[row("name", EdmType::String)],
    };

    static OUTER: Model = Model {
        schema: "test.outer",
        rust_name: "Outer",
        properties: &[
            row("when", EdmType::DateTimeOffset),
            Property {
                sortable: false,
                ..row("tag", EdmType::String)
            },
            Property {
                filterable: false,
                sortable: false,
                ..row("hidden", EdmType::String)
            },
            row("ratio", EdmType::Double),
            Property {
                sortable: false,
                ..row("open", EdmType::Complex(&INNER))
            },
            Property {
                filterable: false,
                sortable: false,
                ..row("closed", EdmType::Complex(&INNER))
            },
            Property {
                collection: true,
                filterable: false,
                sortable: false,
                ..row("many", EdmType::String)
            },
        ],
    };

    /// The rules the table's flags give, on a model made for them: only filterable
    /// properties are paths, nested ones only under a filterable object, each path sortable
    /// as its property is, and what the emulator cannot compare is no path at all.
    #[test]
    fn paths_follow_the_flags() {
        let paths = Paths::of(&OUTER);
        let mut filterable: Vec<(&str, Kind, bool)> = paths
            .filterable
            .iter()
            .map(|path| (path.name.as_str(), path.kind, path.sortable))
            .collect();
        filterable.sort_unstable_by_key(|(name, _, _)| *name);
        assert_eq!(
            filterable,
            [
                ("open", Kind::Complex, false),
                ("open/name", Kind::Str, true),
                ("tag", Kind::Str, false),
                ("when", Kind::DateTime, true),
            ]
        );
        assert_eq!(paths.collections, ["many"]);
        assert_eq!(paths.other, ["hidden", "ratio", "closed"]);
        let steps: Vec<&str> = paths.filterable[0]
            .steps
            .iter()
            .map(|s| s.json_name)
            .collect();
        assert_eq!(steps, ["when"]);
        let nested = paths
            .filterable
            .iter()
            .find(|p| p.name == "open/name")
            .unwrap();
        let steps: Vec<&str> = nested.steps.iter().map(|s| s.json_name).collect();
        assert_eq!(steps, ["open", "name"]);
    }
}
