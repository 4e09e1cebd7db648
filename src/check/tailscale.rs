//! The Tailscale checks: the credentials work and may list devices, may
//! read posture attributes (tried on one device), and may write them:
//! writing is not tried, since that would change the tailnet, but an OAuth
//! client's granted scopes say whether it may.

use super::{Check, Failure};
use crate::config::{Config, TailscaleAuth};
use crate::metrics::Metrics;
use crate::tailscale::{Device, RetryPolicy, TailscaleClient, TailscaleError};

const DEVICES: &str = "Tailscale devices";
const ATTRIBUTES: &str = "Tailscale posture attributes";
const WRITES: &str = "Tailscale attribute writes";
/// The scope that lets an OAuth client set posture attributes.
const WRITE_SCOPE: &str = "devices:posture_attributes";
/// Scopes that include it: the older, broader `devices` and `all`.
const WRITE_SCOPES: [&str; 3] = [WRITE_SCOPE, "devices", "all"];

const CREDENTIALS_FIX: &str = "set TAILSCALE_API_KEY (admin console → Settings → Keys), or TAILSCALE_OAUTH_CLIENT_ID and TAILSCALE_OAUTH_CLIENT_SECRET (admin console → Settings → OAuth clients, with the scopes devices:core:read and devices:posture_attributes)";

pub(super) async fn checks(config: &Config) -> Vec<Check> {
    let Some(auth) = &config.tailscale.auth else {
        return vec![
            Check::fail(
                DEVICES,
                "not checked: no Tailscale credentials",
                CREDENTIALS_FIX,
            ),
            not_checked(ATTRIBUTES, "no Tailscale credentials"),
            not_checked(WRITES, "no Tailscale credentials"),
        ];
    };
    let client = match TailscaleClient::new(&config.tailscale, Metrics::new()) {
        // A check reports at once; retrying is the operator's call.
        Ok(c) => c.with_retry_policy(RetryPolicy::none()),
        Err(e) => {
            return vec![
                Check::fail(
                    DEVICES,
                    format!("cannot build the Tailscale client: {e:#}"),
                    "check tailscale.api_url (env ACCESSBOT_TAILSCALE_API_URL)",
                ),
                not_checked(ATTRIBUTES, "no Tailscale client"),
                not_checked(WRITES, "no Tailscale client"),
            ]
        }
    };
    let devices = match client.list_devices().await {
        Ok(d) => d,
        Err(e) => {
            return vec![
                Check::failed(DEVICES, failure(&e, auth, config, Call::ListDevices)),
                not_checked(ATTRIBUTES, "listing devices failed"),
                not_checked(WRITES, "listing devices failed"),
            ]
        }
    };
    let mut out = vec![Check::pass(
        DEVICES,
        format!(
            "{} device(s) in tailnet {:?}",
            devices.len(),
            config.tailscale.tailnet
        ),
    )];
    out.push(match devices.first() {
        Some(device) => read_attributes(&client, device, auth, config).await,
        None => Check::pass(
            ATTRIBUTES,
            "skipped: the tailnet has no devices to read attributes from (run the check again once one has joined)",
        ),
    });
    out.push(write_access(&client, auth, config).await);
    out
}

async fn read_attributes(
    client: &TailscaleClient,
    device: &Device,
    auth: &TailscaleAuth,
    config: &Config,
) -> Check {
    let shown = if device.name.is_empty() {
        &device.hostname
    } else {
        &device.name
    };
    match client.get_attributes(&device.node_id).await {
        Ok(a) => Check::pass(
            ATTRIBUTES,
            format!(
                "read {} attribute(s) of {shown} ({})",
                a.attributes.len(),
                device.node_id
            ),
        ),
        Err(e) => Check::failed(ATTRIBUTES, failure(&e, auth, config, Call::ReadAttributes)),
    }
}

fn not_checked(name: &str, why: &str) -> Check {
    Check::fail(
        name,
        format!("not checked: {why}"),
        "fix the Tailscale problem above, then run the check again",
    )
}

/// May the credential set posture attributes? An OAuth token names its
/// scopes; an API key's rights are its owner's, which the API does not say.
async fn write_access(client: &TailscaleClient, auth: &TailscaleAuth, config: &Config) -> Check {
    if let TailscaleAuth::ApiKey(_) = auth {
        return Check::pass(
            WRITES,
            "write access could not be verified: an API key has its owner's rights (it can set attributes if the owner is an Owner, Admin, Network admin or IT admin)",
        );
    }
    match client.granted_scopes().await {
        Ok(Some(scopes)) if scopes.iter().any(|s| WRITE_SCOPES.contains(&s.as_str())) => {
            Check::pass(WRITES, format!("the OAuth client has the scope {WRITE_SCOPE}"))
        }
        Ok(Some(scopes)) => Check::fail(
            WRITES,
            format!(
                "the OAuth client lacks the scope {WRITE_SCOPE} (it has {}): every grant would fail",
                scopes.join(", ")
            ),
            scope_fix(auth, &[WRITE_SCOPE]),
        ),
        Ok(None) => Check::pass(
            WRITES,
            "write access could not be verified: Tailscale's token answer named no scopes",
        ),
        Err(e) => Check::failed(WRITES, failure(&e, auth, config, Call::ListDevices)),
    }
}

#[derive(Clone, Copy)]
enum Call {
    ListDevices,
    ReadAttributes,
}

/// The client's message (it already names variables and scopes) as the
/// problem, and the one thing to do about it for this call as the fix.
fn failure(e: &TailscaleError, auth: &TailscaleAuth, config: &Config, call: Call) -> Failure {
    let fix = match (e, call) {
        (TailscaleError::Unauthorized { .. }, _) => match auth {
            TailscaleAuth::ApiKey(_) => "set TAILSCALE_API_KEY (or tailscale.api_key) to a valid key: admin console → Settings → Keys (keys expire after at most 90 days)".to_owned(),
            TailscaleAuth::OAuth { .. } => "set TAILSCALE_OAUTH_CLIENT_ID and TAILSCALE_OAUTH_CLIENT_SECRET to a valid OAuth client: admin console → Settings → OAuth clients".to_owned(),
        },
        (TailscaleError::Forbidden { .. }, Call::ListDevices) => scope_fix(auth, &["devices:core:read", "devices:posture_attributes"]),
        (TailscaleError::Forbidden { .. }, Call::ReadAttributes) => scope_fix(auth, &["devices:posture_attributes"]),
        (TailscaleError::NotFound { .. }, Call::ListDevices) => format!(
            "check tailscale.tailnet (env TAILSCALE_TAILNET), now {:?}: \"-\" means the credential's own tailnet",
            config.tailscale.tailnet
        ),
        (e, _) if e.is_transient() => format!(
            "check that this host can reach {} (tailscale.api_url, env ACCESSBOT_TAILSCALE_API_URL) and run the check again; raise tailscale.request_timeout if it is only slow",
            config.tailscale.api_url
        ),
        _ => format!(
            "check tailscale.api_url (env ACCESSBOT_TAILSCALE_API_URL), now {}",
            config.tailscale.api_url
        ),
    };
    Failure {
        problem: e.to_string(),
        fix,
    }
}

fn scope_fix(auth: &TailscaleAuth, scopes: &[&str]) -> String {
    let scopes = match scopes {
        [one] => format!("the scope {one}"),
        many => format!("the scopes {}", many.join(" and ")),
    };
    match auth {
        TailscaleAuth::OAuth { .. } => format!(
            "the OAuth client needs {scopes}: a client's scopes cannot be changed, so create one with them (admin console → Settings → OAuth clients) and set TAILSCALE_OAUTH_CLIENT_ID and TAILSCALE_OAUTH_CLIENT_SECRET to it"
        ),
        TailscaleAuth::ApiKey(_) => "the API key's owner needs the role Owner, Admin, Network admin or IT admin; or use an OAuth client with the scopes devices:core:read and devices:posture_attributes (TAILSCALE_OAUTH_CLIENT_ID, TAILSCALE_OAUTH_CLIENT_SECRET)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        let env = [("TAILSCALE_API_KEY", "tskey-api-x")];
        Config::from_toml(
            "[[profiles]]\nattribute = \"custom:prod\"\nmax_duration = \"1h\"\n",
            &env,
        )
        .unwrap()
    }

    fn oauth() -> TailscaleAuth {
        TailscaleAuth::OAuth {
            client_id: "id".into(),
            client_secret: "secret".into(),
        }
    }

    #[test]
    fn a_403_names_the_scopes_the_call_needs() {
        let e = TailscaleError::from_status(403, "no".into(), None);
        let list = failure(&e, &oauth(), &config(), Call::ListDevices);
        assert!(list.fix.contains("devices:core:read"), "{}", list.fix);
        assert!(
            list.fix.contains("TAILSCALE_OAUTH_CLIENT_ID"),
            "{}",
            list.fix
        );
        let read = failure(&e, &oauth(), &config(), Call::ReadAttributes);
        assert!(
            read.fix.contains("devices:posture_attributes"),
            "{}",
            read.fix
        );
        assert!(!read.fix.contains("devices:core:read"), "{}", read.fix);
        assert!(read.problem.contains("HTTP 403"), "{}", read.problem);
    }

    #[test]
    fn a_401_names_the_credential_in_use() {
        let e = TailscaleError::from_status(401, "bad key".into(), None);
        let key = TailscaleAuth::ApiKey("k".into());
        assert!(failure(&e, &key, &config(), Call::ListDevices)
            .fix
            .contains("TAILSCALE_API_KEY"));
        assert!(failure(&e, &oauth(), &config(), Call::ListDevices)
            .fix
            .contains("TAILSCALE_OAUTH_CLIENT_SECRET"));
    }

    #[test]
    fn a_404_on_the_device_list_points_at_the_tailnet() {
        let e = TailscaleError::from_status(404, "tailnet not found".into(), None);
        let f = failure(&e, &oauth(), &config(), Call::ListDevices);
        assert!(f.fix.contains("TAILSCALE_TAILNET"), "{}", f.fix);
    }
}
