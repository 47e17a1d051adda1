use std::collections::BTreeSet;

use auditkit_tests::{Spec, covered};

#[test]
fn every_operation_of_both_specs_has_a_contract_test() {
    for spec in Spec::ALL {
        let in_spec: BTreeSet<String> = spec.operations().into_iter().map(|op| op.id).collect();
        assert!(!in_spec.is_empty(), "{} lists no operations", spec.file());
        let recorded: BTreeSet<String> = covered()
            .filter(|c| c.spec == spec)
            .map(|c| c.operation_id.to_owned())
            .collect();
        let uncovered: Vec<_> = in_spec.difference(&recorded).collect();
        let unknown: Vec<_> = recorded.difference(&in_spec).collect();
        assert!(
            uncovered.is_empty(),
            "{}: operations without a contract test: {uncovered:?}",
            spec.file()
        );
        assert!(
            unknown.is_empty(),
            "{}: tests record operations the spec lacks: {unknown:?}",
            spec.file()
        );
    }
}
