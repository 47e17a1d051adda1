//! The API clients of the commands, from their flags and else from Microsoft's and Adobe's
//! variables.

use auditkit::{
    AdobeClient, EntraCredential, GraphClient, GraphCloud, GraphVersion, ImsCredential,
    ImsEnvironment,
};
use secrecy::ExposeSecret;

use crate::exit::Failure;
use crate::{AdobeTarget, Cloud, GraphTarget};

pub(crate) fn graph_client(target: &GraphTarget) -> Result<GraphClient, Failure> {
    let secret = crate::secret::from_command_line(
        target.secret.client_secret.as_ref(),
        target.secret.client_secret_file.as_deref(),
        "AZURE_CLIENT_SECRET",
    )?;
    // Each of tenant, client id and secret comes from its flag or else from Microsoft's
    // variable, so a secret file goes with AZURE_TENANT_ID and AZURE_CLIENT_ID, say.
    let flag = |name: &str| match name {
        "AZURE_TENANT_ID" => target.tenant.clone(),
        "AZURE_CLIENT_ID" => target.client_id.clone(),
        "AZURE_CLIENT_SECRET" => secret.as_ref().map(|s| s.expose_secret().to_owned()),
        _ => None,
    };
    let mut credential =
        EntraCredential::from_vars(|name| flag(name).or_else(|| std::env::var(name).ok()))?;
    if let Some(host) = &target.authority_host {
        credential = credential.authority_host(host.clone());
    }
    let cloud = match target.cloud {
        Cloud::Global => GraphCloud::Global,
        Cloud::UsGov => GraphCloud::UsGov,
        Cloud::UsGovDod => GraphCloud::UsGovDod,
        Cloud::China => GraphCloud::China,
    };
    let mut builder = GraphClient::builder()
        .credential(credential)
        .cloud(cloud)
        .version(if target.beta {
            GraphVersion::Beta
        } else {
            GraphVersion::V1
        });
    if let Some(url) = &target.base_url {
        builder = builder.base_url(url.clone());
    }
    Ok(builder.build()?)
}

pub(crate) fn adobe_client(target: AdobeTarget) -> Result<AdobeClient, Failure> {
    let AdobeTarget {
        base_url,
        ims_host,
        client_id,
        secret,
        scopes,
        org_id,
    } = target;
    let secret = crate::secret::from_command_line(
        secret.client_secret.as_ref(),
        secret.client_secret_file.as_deref(),
        "ADOBE_CLIENT_SECRET",
    )?;
    // Each setting comes from its flag or else from Adobe's variable.
    let flag = |name: &str| match name {
        "ADOBE_CLIENT_ID" => client_id.clone(),
        "ADOBE_CLIENT_SECRET" => secret.as_ref().map(|s| s.expose_secret().to_owned()),
        "ADOBE_SCOPES" => scopes.clone(),
        _ => None,
    };
    let mut credential =
        ImsCredential::from_vars(|name| flag(name).or_else(|| std::env::var(name).ok()))?;
    if let Some(org) = org_id {
        credential = credential.org_id(org);
    }
    if let Some(host) = ims_host {
        credential = credential.environment(ImsEnvironment::Custom(host));
    }
    Ok(AdobeClient::builder()
        .base_url(base_url)
        .credential(credential)
        .build()?)
}
