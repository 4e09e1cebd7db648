//! The keys added for running under load: server limits, the metrics
//! listener, guests, the database URL alone, and URL redaction.

use std::time::Duration;

use secrecy::ExposeSecret;

use super::*;

const NO_ENV: [(&str, &str); 0] = [];
const PROFILE: &str = "[[profiles]]\nattribute = \"custom:prod\"\nmax_duration = \"8h\"\n";

fn problems(toml: &str) -> Vec<String> {
    match Config::from_toml(toml, &NO_ENV) {
        Ok(_) => vec![],
        Err(e) => e.problems(),
    }
}

#[test]
fn server_limits_have_defaults_for_kubernetes() {
    let c = Config::from_toml(PROFILE, &NO_ENV).unwrap();
    let l = c.server.limits;
    assert_eq!(l.max_connections, 1024);
    assert_eq!(l.max_in_flight, 256);
    assert_eq!(l.header_timeout, Duration::from_secs(10));
    assert_eq!(l.body_timeout, Duration::from_secs(10));
    assert_eq!(l.shutdown_timeout, Duration::from_secs(25));
    assert_eq!(c.server.metrics_listen, None);
    assert!(!c.profiles[0].allow_guests);
    assert_eq!(c.socket_liveness.ping_every, Duration::from_secs(30));
    assert_eq!(c.socket_liveness.silence, Duration::from_secs(60));
}

#[test]
fn server_limits_can_be_set_and_are_checked() {
    let toml = format!(
        "[server]\nmax_connections = 4096\nmax_in_flight = 64\nheader_timeout = \"5s\"\n\
         body_timeout = \"20s\"\nshutdown_timeout = \"50s\"\nmetrics_listen = \"127.0.0.1:9090\"\n\
         {PROFILE}allow_guests = true\n"
    );
    let c = Config::from_toml(&toml, &NO_ENV).unwrap();
    let l = c.server.limits;
    assert_eq!((l.max_connections, l.max_in_flight), (4096, 64));
    assert_eq!(l.header_timeout, Duration::from_secs(5));
    assert_eq!(l.body_timeout, Duration::from_secs(20));
    assert_eq!(l.shutdown_timeout, Duration::from_secs(50));
    assert_eq!(
        c.server.metrics_listen.unwrap().to_string(),
        "127.0.0.1:9090"
    );
    assert!(c.profiles[0].allow_guests);

    let p = problems(&format!(
        "[server]\nmax_connections = 0\nmax_in_flight = 2000000\nheader_timeout = \"1h\"\n\
         shutdown_timeout = \"soon\"\nmetrics_listen = \"9090\"\n{PROFILE}"
    ));
    assert_eq!(p.len(), 5, "{p:#?}");
    for (line, key) in p.iter().zip([
        "server.max_connections \"0\"",
        "server.max_in_flight \"2000000\"",
        "server.header_timeout \"1h\": must be between",
        "server.shutdown_timeout \"soon\": not a duration",
        "server.metrics_listen \"9090\"",
    ]) {
        assert!(line.starts_with(key), "{line:?} should start with {key:?}");
    }
    let same = problems(&format!(
        "[server]\nlisten = \"0.0.0.0:8080\"\nmetrics_listen = \"0.0.0.0:8080\"\n{PROFILE}"
    ));
    assert_eq!(same.len(), 1);
    assert!(
        same[0].contains("must differ from server.listen"),
        "{same:?}"
    );
}

#[test]
fn the_database_url_alone_needs_no_profiles_or_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("accessbot.toml");
    // Invalid everywhere but in [database].
    std::fs::write(
        &path,
        "[server]\nlisten = \"nope\"\n[database]\nurl = \"postgres://u:pw@db/app\"\n\
         [[profiles]]\nattribute = \"wrong\"\n[surprise]\nkey = 1\n",
    )
    .unwrap();
    let url = Config::database_url(Some(&path), &NO_ENV).unwrap();
    assert_eq!(url.expose_secret(), "postgres://u:pw@db/app");
    let env = [("DATABASE_URL", "sqlite://other.db")];
    let url = Config::database_url(Some(&path), &env).unwrap();
    assert_eq!(
        url.expose_secret(),
        "sqlite://other.db",
        "the environment wins"
    );
    let url = Config::database_url(None, &NO_ENV).unwrap();
    assert_eq!(url.expose_secret(), "sqlite://accessbot.db");
    // A bad URL is still refused, without its password.
    let env = [("DATABASE_URL", "mysql://u:secret@h/db")];
    let e = Config::database_url(None, &env).unwrap_err().problems();
    assert_eq!(e.len(), 1);
    assert!(
        e[0].contains("must start with sqlite: or postgres://"),
        "{e:?}"
    );
    assert!(!e[0].contains("secret"), "{e:?}");
    std::fs::write(&path, "[database]\nurl = 5\n").unwrap();
    assert!(Config::database_url(Some(&path), &NO_ENV).is_err());
}

#[test]
fn passwords_in_the_query_are_redacted_too() {
    assert_eq!(
        redact_url("postgres://u@h:5432/db?sslmode=require&password=hunter2"),
        "postgres://u@h:5432/db?sslmode=require&password=***"
    );
    assert_eq!(
        redact_url("postgres://u:pw@h/db?PASSWORD=hunter2&application_name=x"),
        "postgres://u:***@h/db?PASSWORD=***&application_name=x"
    );
    assert_eq!(
        redact_url("postgres://h/db?sslmode=disable"),
        "postgres://h/db?sslmode=disable"
    );
    // Not a URL: shown without what might hold a password.
    let shown = redact_url("postgres://u:p w@h/db?password=hunter2");
    assert!(
        !shown.contains("hunter2") && !shown.contains("p w"),
        "{shown}"
    );
}
