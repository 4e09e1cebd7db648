//! `accessbot check --online`: call Slack, Tailscale and the database the
//! way the service will, and print a checklist with a concrete fix for
//! every failure. Every call has a timeout, and one failing check never
//! stops the others: Slack, Tailscale and the database are checked side by
//! side. Nothing visible is changed anywhere (the channel check schedules a
//! message and deletes it at once; the database is not migrated).

mod database;
mod slack;
mod tailscale;

use std::fmt::Write as _;

use crate::config::{Config, TailscaleAuth};

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked, e.g. `Slack auth.test` or `profiles[0].approvers[1] bob@example.com`.
    pub name: String,
    /// What was found, or what is wrong and how to fix it.
    pub result: Result<String, Failure>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub problem: String,
    /// What to do about it, concretely (which setting, variable or page).
    pub fix: String,
}

impl Check {
    pub fn pass(name: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            result: Ok(detail.into()),
        }
    }

    pub fn fail(
        name: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::failed(
            name,
            Failure {
                problem: problem.into(),
                fix: fix.into(),
            },
        )
    }

    pub fn failed(name: impl Into<String>, failure: Failure) -> Self {
        Self {
            name: name.into(),
            result: Err(failure),
        }
    }

    pub fn passed(&self) -> bool {
        self.result.is_ok()
    }
}

/// The checklist as text: `✓ name: detail`, or `✗ name: problem` followed
/// by an indented `fix:` line, and a closing count.
pub fn render(checks: &[Check]) -> String {
    let mut out = String::new();
    for check in checks {
        let (mark, text) = match &check.result {
            Ok(detail) => ("✓", detail),
            Err(f) => ("✗", &f.problem),
        };
        out.push_str(mark);
        out.push(' ');
        out.push_str(&check.name);
        if !text.is_empty() {
            out.push_str(": ");
            push_indented(&mut out, text, "    ");
        }
        out.push('\n');
        if let Err(f) = &check.result {
            out.push_str("    fix: ");
            push_indented(&mut out, &f.fix, "         ");
            out.push('\n');
        }
    }
    let failed = checks.iter().filter(|c| !c.passed()).count();
    out.push('\n');
    if failed == 0 {
        let _ = writeln!(out, "all {} checks passed", checks.len());
    } else {
        let _ = writeln!(out, "{failed} of {} checks failed", checks.len());
    }
    out
}

/// Text whose later lines are indented to stay under their first line.
fn push_indented(out: &mut String, text: &str, indent: &str) {
    for (i, line) in text.lines().enumerate() {
        if i > 0 {
            out.push('\n');
            out.push_str(indent);
        }
        out.push_str(line);
    }
}

/// The secrets the service needs, set or not (the offline check's rule).
pub fn secrets(config: &Config) -> Vec<Check> {
    let missing = config.missing_secrets();
    if !missing.is_empty() {
        return missing
            .into_iter()
            .map(|m| {
                Check::fail(
                    "secrets",
                    m,
                    "set it in accessbot's environment (e.g. the env file of the container), or in the config file",
                )
            })
            .collect();
    }
    let mut set = vec!["SLACK_BOT_TOKEN"];
    set.push(if config.slack.socket_mode {
        "SLACK_APP_TOKEN"
    } else {
        "SLACK_SIGNING_SECRET"
    });
    set.push(match config.tailscale.auth {
        Some(TailscaleAuth::OAuth { .. }) => {
            "TAILSCALE_OAUTH_CLIENT_ID and TAILSCALE_OAUTH_CLIENT_SECRET"
        }
        _ => "TAILSCALE_API_KEY",
    });
    vec![Check::pass(
        "secrets",
        format!("{} are set", set.join(", ")),
    )]
}

/// Every online check: Slack (token, scopes, approvers, notify channels),
/// Tailscale (devices, posture attributes) and the database (reachable,
/// migrated), in that order, run concurrently.
pub async fn online(config: &Config) -> Vec<Check> {
    let (slack, tailscale, database) = tokio::join!(
        slack::checks(config),
        tailscale::checks(config),
        database::checks(config),
    );
    [slack, tailscale, database].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_passes_failures_with_fixes_and_a_count() {
        let checks = vec![
            Check::pass("Slack auth.test", "bot @accessbot in Acme"),
            Check::fail(
                "profiles[0].approvers[1] bob@example.com",
                "no Slack user has this e-mail",
                "correct profiles[0].approvers[1]",
            ),
            Check::pass("database", ""),
        ];
        assert_eq!(
            render(&checks),
            "✓ Slack auth.test: bot @accessbot in Acme\n\
             ✗ profiles[0].approvers[1] bob@example.com: no Slack user has this e-mail\n    \
             fix: correct profiles[0].approvers[1]\n\
             ✓ database\n\
             \n\
             1 of 3 checks failed\n"
        );
    }

    #[test]
    fn all_passed_says_so() {
        let text = render(&[Check::pass("a", "fine"), Check::pass("b", "fine")]);
        assert!(text.ends_with("\nall 2 checks passed\n"), "{text}");
        assert!(!text.contains('✗'));
    }

    #[test]
    fn multi_line_text_stays_indented_under_its_line() {
        let text = render(&[Check::fail("x", "first\nsecond", "do this\nthen that")]);
        assert_eq!(
            text,
            "✗ x: first\n    second\n    fix: do this\n         then that\n\n1 of 1 checks failed\n"
        );
    }

    #[test]
    fn secrets_are_named_when_missing_and_listed_when_set() {
        let toml = "[[profiles]]\nattribute = \"custom:prod\"\nmax_duration = \"1h\"\n";
        let none: [(&str, &str); 0] = [];
        let config = Config::from_toml(toml, &none).unwrap();
        let checks = secrets(&config);
        assert!(checks.iter().all(|c| !c.passed()));
        let text = render(&checks);
        let unset = [
            "SLACK_BOT_TOKEN",
            "SLACK_SIGNING_SECRET",
            "TAILSCALE_API_KEY",
        ];
        assert!(unset.iter().all(|var| text.contains(var)), "{text}");

        let env = [
            ("SLACK_BOT_TOKEN", "xoxb-1"),
            ("SLACK_SIGNING_SECRET", "s"),
            ("TAILSCALE_OAUTH_CLIENT_ID", "id"),
            ("TAILSCALE_OAUTH_CLIENT_SECRET", "secret"),
        ];
        let config = Config::from_toml(toml, &env).unwrap();
        let checks = secrets(&config);
        assert_eq!(checks.len(), 1);
        assert_eq!(
            checks[0].result,
            Ok("SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, TAILSCALE_OAUTH_CLIENT_ID and TAILSCALE_OAUTH_CLIENT_SECRET are set".into())
        );
    }
}
