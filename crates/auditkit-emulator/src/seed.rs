//! Realistic Intune audit events for an empty store, deterministic from a seed.

use auditkit_graph::types::{AuditActor, AuditEvent, AuditProperty, AuditResource};
use chrono::{DateTime, Duration, Utc};

/// (category, componentName, resource type, display-name stem)
const AREAS: &[(&str, &str, &str, &str)] = &[
    ("Application", "MobileApps", "MobileApp", "Company Portal"),
    (
        "Compliance",
        "DeviceCompliance",
        "DeviceCompliancePolicy",
        "Baseline compliance",
    ),
    (
        "DeviceConfiguration",
        "DeviceConfiguration",
        "DeviceConfiguration",
        "Wi-Fi profile",
    ),
    (
        "DeviceConfiguration",
        "DeviceIntent",
        "DeviceManagementIntent",
        "Security baseline",
    ),
    ("Device", "Devices", "ManagedDevice", "LAPTOP"),
    (
        "Enrollment",
        "Enrollment",
        "EnrollmentConfiguration",
        "Windows Autopilot profile",
    ),
    (
        "Role",
        "RoleBasedAccessControl",
        "RoleAssignment",
        "Help desk operators",
    ),
    (
        "Other",
        "DeviceManagement",
        "DeviceManagementSettings",
        "Tenant settings",
    ),
];

/// (operation type, verb in the activity type)
const OPERATIONS: &[(&str, &str)] = &[
    ("Create", "Create"),
    ("Patch", "Patch"),
    ("Delete", "Delete"),
    ("Get", "Get"),
    ("Action", "Assign"),
    ("Action", "Sync"),
];

/// (userPrincipalName, userId, ipAddress)
const USERS: &[(&str, &str, &str)] = &[
    (
        "admin@contoso.onmicrosoft.com",
        "6d1c4d2a-53b0-4f3e-9a55-1a2b3c4d5e01",
        "203.0.113.10",
    ),
    (
        "adele.vance@contoso.onmicrosoft.com",
        "6d1c4d2a-53b0-4f3e-9a55-1a2b3c4d5e02",
        "198.51.100.23",
    ),
    (
        "megan.bowen@contoso.onmicrosoft.com",
        "6d1c4d2a-53b0-4f3e-9a55-1a2b3c4d5e03",
        "192.0.2.77",
    ),
    (
        "helpdesk@contoso.onmicrosoft.com",
        "6d1c4d2a-53b0-4f3e-9a55-1a2b3c4d5e04",
        "2001:db8::42",
    ),
];

/// (applicationId, applicationDisplayName)
const APPS: &[(&str, &str)] = &[
    ("0000000a-0000-0000-c000-000000000000", "Microsoft Intune"),
    (
        "5926fc8e-304e-4f59-8bed-58ca97cc39a4",
        "Microsoft Intune portal extension",
    ),
    (
        "14d82eec-204b-4c2f-b7e8-296a70dab67e",
        "Microsoft Graph Command Line Tools",
    ),
];

const PROPERTIES: &[(&str, &str, &str)] = &[
    ("DisplayName", "Old name", "New name"),
    ("Description", "", "Managed by IT"),
    ("Assignments", "[]", "[\"All devices\"]"),
    ("PasswordRequired", "False", "True"),
    ("Version", "1", "2"),
    ("RoleScopeTagIds", "[\"0\"]", "[\"0\",\"3\"]"),
];

fn guid(rng: &mut fastrand::Rng) -> uuid::Uuid {
    let mut bytes = [0u8; 16];
    for byte in &mut bytes {
        *byte = rng.u8(..);
    }
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn pick<'a, T>(rng: &mut fastrand::Rng, items: &'a [T]) -> &'a T {
    &items[rng.usize(..items.len())]
}

/// `n` events spread over the 30 days before `now`, oldest first.
pub fn events(n: usize, seed: u64, now: DateTime<Utc>) -> Vec<AuditEvent> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let window_ms = Duration::days(30).num_milliseconds();
    let mut events: Vec<AuditEvent> = (0..n)
        .map(|_| {
            let &(category, component, resource_type, stem) = pick(&mut rng, AREAS);
            let &(operation, verb) = pick(&mut rng, OPERATIONS);
            let activity_type = format!("{verb} {resource_type}");
            let success = rng.u8(..100) < 90;
            let by_app = rng.u8(..100) < 25;
            let &(app_id, app_name) = pick(&mut rng, APPS);
            let actor = if by_app {
                AuditActor {
                    audit_actor_type: Some("ItPro".to_owned()),
                    type_: Some("Application".to_owned()),
                    application_id: Some(app_id.to_owned()),
                    application_display_name: Some(app_name.to_owned()),
                    service_principal_name: Some(app_name.to_owned()),
                    user_permissions: vec!["*".to_owned()],
                    ..AuditActor::default()
                }
            } else {
                let &(upn, user_id, ip) = pick(&mut rng, USERS);
                AuditActor {
                    audit_actor_type: Some("ItPro".to_owned()),
                    type_: Some("ItPro".to_owned()),
                    application_id: Some(APPS[0].0.to_owned()),
                    application_display_name: Some(APPS[0].1.to_owned()),
                    user_principal_name: Some(upn.to_owned()),
                    user_id: Some(user_id.to_owned()),
                    ip_address: Some(ip.to_owned()),
                    user_permissions: vec![
                        "Microsoft.Intune_DeviceConfigurations_Read".to_owned(),
                        "Microsoft.Intune_DeviceConfigurations_Update".to_owned(),
                    ],
                    ..AuditActor::default()
                }
            };
            let modified = if operation == "Get" {
                Vec::new()
            } else {
                (0..rng.usize(1..=3))
                    .map(|_| {
                        let &(name, old, new) = pick(&mut rng, PROPERTIES);
                        AuditProperty {
                            display_name: Some(name.to_owned()),
                            old_value: Some(old.to_owned()),
                            new_value: Some(new.to_owned()),
                            odata_type: None,
                        }
                    })
                    .collect()
            };
            let resource_name = format!("{stem} {}", rng.u16(1..1000));
            let resource = AuditResource {
                audit_resource_type: Some(resource_type.to_owned()),
                type_: Some(resource_type.to_owned()),
                display_name: Some(resource_name.clone()),
                resource_id: Some(guid(&mut rng).to_string()),
                modified_properties: modified,
                odata_type: None,
            };
            let ago = Duration::milliseconds(rng.i64(0..window_ms));
            AuditEvent {
                odata_type: Some("#microsoft.graph.auditEvent".to_owned()),
                id: Some(guid(&mut rng).to_string()),
                display_name: Some(format!("{activity_type} {resource_name}")),
                component_name: Some(component.to_owned()),
                activity: Some(activity_type.clone()),
                activity_date_time: Some(now - ago),
                activity_type: Some(activity_type),
                activity_operation_type: Some(operation.to_owned()),
                activity_result: Some(if success { "Success" } else { "Failure" }.to_owned()),
                correlation_id: Some(guid(&mut rng)),
                category: Some(category.to_owned()),
                actor: Some(actor),
                resources: vec![resource],
            }
        })
        .collect();
    events.sort_by_key(|event| event.activity_date_time);
    events
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_events() {
        let now = Utc::now();
        assert_eq!(events(50, 7, now), events(50, 7, now));
        assert_ne!(events(50, 7, now), events(50, 8, now));
        let all = events(500, 1, now);
        assert!(all.iter().all(|event| {
            event
                .activity_date_time
                .is_some_and(|time| time <= now && time >= now - Duration::days(30))
        }));
        let categories: std::collections::BTreeSet<_> = all
            .iter()
            .filter_map(|event| event.category.clone())
            .collect();
        assert!(categories.len() >= 6, "{categories:?}");
    }
}
