//! What the benches share: Intune-like audit events as JSON, generated without allocation
//! per field so a bench measures the SDK rather than the generator.

use std::fmt::Write as _;

/// Every generated id starts with this; its last 12 digits are the event's sequence number.
pub const ID_PREFIX: &str = "9d3e6c1a-52b7-4f0e-8a6d-";

/// One event shaped like a real Intune audit event (about 950 bytes of JSON, `@odata.type`
/// included as Graph sends it). Every id is distinct: its last 12 digits are `seq`.
pub fn write_event(out: &mut String, seq: usize) {
    const COMPONENTS: [(&str, &str, &str); 4] = [
        (
            "DeviceConfiguration",
            "Windows10GeneralConfiguration",
            "PasswordRequired",
        ),
        (
            "DeviceCompliance",
            "Windows10CompliancePolicy",
            "OsMinimumVersion",
        ),
        ("Application", "Win32LobApp", "DisplayVersion"),
        ("Enrollment", "DeviceEnrollmentLimitConfiguration", "Limit"),
    ];
    let (component, resource_type, property) = COMPONENTS[seq % COMPONENTS.len()];
    let operation = ["Patch", "Create", "Delete", "Action"][seq % 4];
    let seconds = seq / 10;
    write!(
        out,
        concat!(
            "{{\"@odata.type\":\"#microsoft.graph.auditEvent\",",
            "\"id\":\"{prefix}{seq:012}\",",
            "\"displayName\":\"{op} {component}\",",
            "\"componentName\":\"{component}\",",
            "\"activity\":\"{op} {component}\",",
            "\"activityDateTime\":\"2025-03-{day:02}T{hour:02}:{minute:02}:{second:02}.{frac:07}Z\",",
            "\"activityType\":\"{op} {component}\",",
            "\"activityOperationType\":\"{op}\",",
            "\"activityResult\":\"Success\",",
            "\"correlationId\":\"{corr:08x}-1c2d-4e3f-8a9b-{seq:012x}\",",
            "\"category\":\"{component}\",",
            "\"actor\":{{\"type\":\"ItPro\",\"auditActorType\":\"ItPro\",",
            "\"userPermissions\":[\"Microsoft.Intune/{component}/Update\"],",
            "\"applicationId\":\"5926fc8e-304e-4f59-8bed-58ca97cc39a4\",",
            "\"userPrincipalName\":\"admin{user}@contoso.com\",",
            "\"ipAddress\":\"203.0.113.{ip}\"}},",
            "\"resources\":[{{\"displayName\":\"Contoso baseline {rid}\",",
            "\"type\":\"{resource_type}\",",
            "\"resourceId\":\"c0ffee00-aaaa-4bbb-8ccc-{rid:012}\",",
            "\"modifiedProperties\":[",
            "{{\"displayName\":\"{property}\",\"oldValue\":\"false\",\"newValue\":\"true\"}},",
            "{{\"displayName\":\"Version\",\"oldValue\":\"{version}\",\"newValue\":\"{next_version}\"}}",
            "]}}]}}"
        ),
        prefix = ID_PREFIX,
        seq = seq,
        op = operation,
        component = component,
        resource_type = resource_type,
        property = property,
        day = seconds / 86_400 % 28 + 1,
        hour = seconds / 3_600 % 24,
        minute = seconds / 60 % 60,
        second = seconds % 60,
        frac = seq % 10 * 1_000_000,
        corr = seq.wrapping_mul(2_654_435_761) & 0xffff_ffff,
        user = seq % 37,
        ip = seq % 250 + 1,
        rid = seq % 500,
        version = seq % 9 + 1,
        next_version = seq % 9 + 2,
    )
    .unwrap();
}
