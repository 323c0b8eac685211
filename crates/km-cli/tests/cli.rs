//! The real `km` binary against a real km-testkit server.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use assert_cmd::Command;
use km_testkit::{Fault, TestServer};
use serde_json::{json, Value as Json};

const KEY: &str = "s3cret-KEY-8f2a";
const WAIT: Duration = Duration::from_secs(20);

/// `km` with a clean environment: no key, no proxies.
fn km() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_km"));
    for var in [
        "KM_KEY",
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// `km <args> --key KEY --host SERVER --scheme http`.
fn km_to(server: &TestServer, args: &[&str]) -> Command {
    let mut cmd = km();
    cmd.args(args).args([
        "--key",
        KEY,
        "--host",
        &server.host_port(),
        "--scheme",
        "http",
    ]);
    cmd
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut Command) -> Run {
    let output = cmd.timeout(WAIT).output().expect("km runs");
    let run = Run {
        code: output.status.code().expect("km exits with a status"),
        stdout: String::from_utf8(output.stdout).expect("utf-8 stdout"),
        stderr: String::from_utf8(output.stderr).expect("utf-8 stderr"),
    };
    assert!(
        !run.stdout.contains(KEY) && !run.stderr.contains(KEY),
        "the key leaked:\nstdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    run
}

/// A failure prints exactly one line on stderr, starting with `km: `.
fn assert_one_line_error(run: &Run) {
    assert!(run.stderr.starts_with("km: "), "{:?}", run.stderr);
    assert_eq!(run.stderr.trim_end().lines().count(), 1, "{:?}", run.stderr);
}

fn pairs(server: &TestServer, i: usize) -> Vec<(String, String)> {
    server.requests()[i].pairs().to_vec()
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect()
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn record_set_alias_are_delivered_exactly() {
    let server = TestServer::start();
    let r = run(&mut km_to(
        &server,
        &[
            "record",
            "bob@example.com",
            "Signed Up",
            "Plan=Pro",
            "a=b=c",
            "empty=",
        ],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "");
    assert_eq!(r.stderr, "");
    let r = run(&mut km_to(
        &server,
        &["set", "bob", "gender=male", "--timestamp", "1381849312.7"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&mut km_to(&server, &["alias", "bob", "bob@example.com"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let r = run(&mut km_to(
        &server,
        &["record", "bob", "Viewed", "--path", "get"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);

    let requests = server.requests();
    assert_eq!(requests.len(), 4);
    assert_eq!(requests[0].path, "/e");
    assert_eq!(
        pairs(&server, 0),
        owned(&[
            ("_k", KEY),
            ("_p", "bob@example.com"),
            ("_n", "Signed Up"),
            ("Plan", "Pro"),
            ("a", "b=c"),
            ("empty", ""),
        ])
    );
    assert_eq!(requests[1].path, "/s");
    assert_eq!(
        pairs(&server, 1),
        owned(&[
            ("_k", KEY),
            ("_p", "bob"),
            ("_d", "1"),
            ("_t", "1381849312"),
            ("gender", "male"),
        ])
    );
    assert_eq!(requests[2].path, "/a");
    assert_eq!(
        pairs(&server, 2),
        owned(&[("_k", KEY), ("_p", "bob"), ("_n", "bob@example.com")])
    );
    assert_eq!(requests[3].path, "/get");
}

#[test]
fn the_key_comes_from_km_key() {
    let server = TestServer::start();
    let r = run(km().env("KM_KEY", KEY).args([
        "alias",
        "a",
        "b",
        "--host",
        &server.host_port(),
        "--scheme",
        "http",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(server.requests()[0].pair("_k"), Some(KEY));
    // --key wins over KM_KEY.
    let r = run(km().env("KM_KEY", "other").args([
        "alias",
        "a",
        "b",
        "--key",
        KEY,
        "--host",
        &server.host_port(),
        "--scheme",
        "http",
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(server.requests()[1].pair("_k"), Some(KEY));
}

#[test]
fn json_output_is_one_object_per_result() {
    let server = TestServer::start();
    let r = run(&mut km_to(
        &server,
        &["record", "bob", "Signed Up", "--json"],
    ));
    assert_eq!(r.code, 0);
    let out: Json = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(out, json!({"ok": true, "call": "record", "status": 200}));

    server.push_fault(Fault::status(403));
    let r = run(&mut km_to(&server, &["set", "bob", "a=1", "--json"]));
    assert_eq!(r.code, 4);
    assert_one_line_error(&r);
    let out: Json = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(out["ok"], false);
    assert_eq!(out["call"], "set");
    assert_eq!(out["error"], "undelivered");
    assert_eq!(out["status"], 403);
}

#[test]
fn dry_run_prints_and_sends_nothing() {
    let server = TestServer::start();
    let r = run(&mut km_to(
        &server,
        &["record", "bob", "Signed Up", "Plan=Pro Plus", "--dry-run"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let url = format!(
        "http://{}/e?_k=***&_p=bob&_n=Signed+Up&Plan=Pro+Plus",
        server.host_port()
    );
    assert_eq!(r.stdout, format!("GET {url}\n"));

    let r = run(&mut km_to(
        &server,
        &["alias", "bob", "b@c", "--dry-run", "--json"],
    ));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let out: Json = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(
        out,
        json!({
            "dry_run": true,
            "call": "alias",
            "method": "GET",
            "url": format!("http://{}/a?_k=***&_p=bob&_n=b%40c", server.host_port()),
        })
    );

    // --show-key is the one way to see the key.
    let output = km_to(&server, &["set", "bob", "a=1", "--dry-run", "--show-key"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8(output.stdout)
        .unwrap()
        .contains(&format!("_k={KEY}&")));

    assert!(!server.wait_for_requests(1, Duration::from_millis(200)));
}

#[test]
fn exit_codes() {
    let server = TestServer::start();
    // 2: invalid input, nothing sent.
    let r = run(&mut km_to(&server, &["record", "", "Signed Up"]));
    assert_eq!(r.code, 2);
    assert_one_line_error(&r);
    assert!(
        r.stderr.contains("person (_p) must not be empty"),
        "{}",
        r.stderr
    );
    let r = run(&mut km_to(&server, &["set", "bob", "_k=x"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("reserved"), "{}", r.stderr);
    let r = run(&mut km_to(
        &server,
        &["record", "bob", "x", "--timestamp", "-5"],
    ));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("negative"), "{}", r.stderr);
    let r = run(km().args(["alias", "a", "b", "--key", KEY, "--host", "a b"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--host"), "{}", r.stderr);
    let r = run(&mut km_to(&server, &["record", "bob"]));
    assert_eq!(r.code, 2);
    assert_one_line_error(&r);
    assert!(r.stderr.contains("<EVENT>"), "{}", r.stderr);
    let r = run(&mut km_to(&server, &["launch"]));
    assert_eq!(r.code, 2);
    assert_one_line_error(&r);
    assert_eq!(server.request_count(), 0);

    // 3: transport failure.
    let host = format!("127.0.0.1:{}", closed_port());
    let r = run(km().args([
        "alias", "a", "b", "--key", KEY, "--scheme", "http", "--host", &host,
    ]));
    assert_eq!(r.code, 3);
    assert_one_line_error(&r);
    assert!(r.stderr.contains("connect"), "{}", r.stderr);
    let r = run(km().args([
        "alias", "a", "b", "--json", "--key", KEY, "--scheme", "http", "--host", &host,
    ]));
    assert_eq!(r.code, 3);
    let out: Json = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(
        (&out["error"], &out["kind"]),
        (&json!("transport"), &json!("connect"))
    );

    // 3: a timeout is a transport failure too.
    server.push_fault(Fault::Delay(Duration::from_secs(10)));
    let r = run(&mut km_to(
        &server,
        &["alias", "a", "b", "--timeout", "0.3"],
    ));
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("timeout"), "{}", r.stderr);

    // 4: the service answered, but not "delivered".
    for status in [400, 503] {
        server.push_fault(Fault::status(status));
        let r = run(&mut km_to(&server, &["alias", "a", "b"]));
        assert_eq!(r.code, 4, "{status}");
        assert_one_line_error(&r);
        assert!(r.stderr.contains(&status.to_string()), "{}", r.stderr);
    }
}

#[test]
fn missing_key_is_invalid_input() {
    let server = TestServer::start();
    let host = server.host_port();
    let r = run(km().args(["record", "bob", "x", "--host", &host, "--scheme", "http"]));
    assert_eq!(r.code, 2);
    assert_one_line_error(&r);
    assert!(r.stderr.contains("KM_KEY"), "{}", r.stderr);
    let r = run(km()
        .env("KM_KEY", "")
        .args(["alias", "a", "b", "--host", &host, "--scheme", "http"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("empty"), "{}", r.stderr);
    // A dry run needs a key too: it shows what would be sent.
    let r = run(km().args(["alias", "a", "b", "--dry-run"]));
    assert_eq!(r.code, 2);
    assert_eq!(server.request_count(), 0);
}

#[test]
fn malformed_properties_name_the_argument() {
    let server = TestServer::start();
    for (bad, why) in [("Plan", "no '='"), ("=Pro", "empty NAME")] {
        let r = run(&mut km_to(&server, &["record", "bob", "x", bad]));
        assert_eq!(r.code, 2, "{bad}");
        assert_one_line_error(&r);
        assert!(r.stderr.contains("NAME=VALUE"), "{}", r.stderr);
        assert!(r.stderr.contains(why), "{}", r.stderr);
        assert!(r.stderr.contains(&format!("'{bad}'")), "{}", r.stderr);
    }
    let r = run(&mut km_to(&server, &["set", "bob"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("NAME=VALUE"), "{}", r.stderr);
    let r = run(&mut km_to(&server, &["set", "bob", "a=1", "a=2"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("more than once"), "{}", r.stderr);
    assert_eq!(server.request_count(), 0);
}

#[test]
fn the_key_never_appears_in_usage_errors_or_help() {
    // `run` fails the test if KEY shows up anywhere in the output.
    let cases: Vec<Vec<String>> = vec![
        vec![
            "record".into(),
            "--key".into(),
            format!("-{KEY}"),
            "bob".into(),
        ],
        vec!["record".into(), format!("--key={KEY}"), "--bogus".into()],
        vec![
            "record".into(),
            "--key".into(),
            KEY.into(),
            "bob".into(),
            "x".into(),
            "--timeout".into(),
            "soon".into(),
        ],
        vec![
            "alias".into(),
            "--key".into(),
            KEY.into(),
            "--key".into(),
            KEY.into(),
            "a".into(),
            "b".into(),
        ],
        vec![
            "set".into(),
            "--key".into(),
            KEY.into(),
            "bob".into(),
            KEY.into(),
        ],
        vec![
            "record".into(),
            "--show-key".into(),
            "--key".into(),
            KEY.into(),
            "a".into(),
            "b".into(),
        ],
        vec!["serve".into(), "--key".into(), KEY.into()],
    ];
    for args in &cases {
        let r = run(km().args(args));
        assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
        assert_one_line_error(&r);
    }
    for args in [
        vec!["record", "--help"],
        vec!["--help"],
        vec!["send", "--help"],
    ] {
        let r = run(km().env("KM_KEY", KEY).args(&args));
        assert_eq!(r.code, 0);
        assert!(r.stdout.contains("KM_KEY"));
    }
}

#[test]
fn help_is_complete_with_examples_and_exit_codes() {
    let r = run(km().arg("--help"));
    assert_eq!(r.code, 0);
    for needle in [
        "record",
        "set",
        "alias",
        "send",
        "serve",
        "completions",
        "Examples:",
        "KM_KEY",
        "Exit status:",
        "  0  delivered",
        "  1  other",
        "  2  usage error",
        "  3  transport",
        "  4  not delivered",
        "  5  --batch / send",
    ] {
        assert!(r.stdout.contains(needle), "--help lacks {needle:?}");
    }
    for sub in ["record", "set", "alias", "send", "serve", "completions"] {
        let r = run(km().args([sub, "--help"]));
        assert_eq!(r.code, 0, "{sub}");
        assert!(
            r.stdout.contains("Examples:"),
            "{sub} --help has no examples"
        );
        assert!(r.stdout.contains(&format!("km {sub}")), "{sub}");
    }
    for sub in ["record", "set", "alias", "send"] {
        let r = run(km().args([sub, "--help"]));
        for option in [
            "--key",
            "--host",
            "--scheme",
            "--timeout",
            "--proxy",
            "--json",
            "Exit status:",
        ] {
            assert!(r.stdout.contains(option), "{sub} --help lacks {option}");
        }
    }
    // No arguments: the help, on stderr, as a usage error.
    let r = run(&mut km());
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("Usage: km <COMMAND>"));
}

#[test]
fn completions_are_generated() {
    for (shell, needle) in [
        ("bash", "complete -F _km"),
        ("zsh", "#compdef km"),
        ("fish", "complete -c km"),
    ] {
        let r = run(km().args(["completions", shell]));
        assert_eq!(r.code, 0, "{shell}");
        assert!(r.stdout.contains(needle), "{shell}: {}", r.stdout);
        assert!(r.stdout.contains("record"), "{shell}");
    }
    let r = run(km().args(["completions", "tcsh"]));
    assert_eq!(r.code, 2);
}

/// A running `km serve`: its address and its stdout lines.
struct Serve {
    child: Child,
    host: String,
    lines: mpsc::Receiver<String>,
}

impl Serve {
    fn start(json: bool) -> Serve {
        let mut cmd = StdCommand::new(env!("CARGO_BIN_EXE_km"));
        cmd.args(["serve", "--port", "0"]);
        if json {
            cmd.arg("--json");
        }
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("km serve starts");
        let stderr = child.stderr.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (first_tx, first_rx) = mpsc::channel();
        thread::spawn(move || {
            let mut first = String::new();
            let mut reader = BufReader::new(stderr);
            let _ = reader.read_line(&mut first);
            let _ = first_tx.send(first);
            // Keep draining so the child never blocks on a full pipe.
            let mut rest = String::new();
            while reader.read_line(&mut rest).is_ok_and(|n| n > 0) {
                rest.clear();
            }
        });
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let first = first_rx
            .recv_timeout(WAIT)
            .expect("km serve announces itself");
        let url = first
            .split_whitespace()
            .find(|w| w.starts_with("http://127.0.0.1:"))
            .unwrap_or_else(|| panic!("no URL in {first:?}"));
        let host = url.trim_start_matches("http://").to_owned();
        Serve { child, host, lines }
    }

    fn send(&self, args: &[&str]) {
        let r = run(km()
            .args(args)
            .args(["--key", KEY, "--host", &self.host, "--scheme", "http"]));
        assert_eq!(r.code, 0, "{args:?}: {}", r.stderr);
    }

    fn next_line(&self) -> String {
        let line = self
            .lines
            .recv_timeout(WAIT)
            .expect("km serve prints a line");
        assert!(!line.contains(KEY), "km serve printed the key: {line}");
        line
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn serve_prints_each_call_readably() {
    let serve = Serve::start(false);
    serve.send(&["record", "bob", "Signed Up", "Plan=Pro"]);
    assert_eq!(serve.next_line(), r#"record bob "Signed Up" Plan=Pro"#);
    serve.send(&["set", "bob", "gender=male", "Favorite Color=dark blue"]);
    assert_eq!(
        serve.next_line(),
        r#"set bob gender=male "Favorite Color"="dark blue""#
    );
    serve.send(&["alias", "bob", "bob@example.com"]);
    assert_eq!(serve.next_line(), "alias bob bob@example.com");
    serve.send(&["record", "bob", "Paid", "--timestamp", "1381849312"]);
    assert_eq!(serve.next_line(), "record bob Paid _d=1 _t=1381849312");
    serve.send(&["alias", "bob", "bob@example.com", "--path", "get"]);
    assert_eq!(
        serve.next_line(),
        "GET /get?_k=***&_p=bob&_n=bob%40example.com"
    );
}

#[test]
fn serve_json_prints_the_recorded_request() {
    let serve = Serve::start(true);
    serve.send(&["record", "bob", "Signed Up", "Plan=Pro"]);
    let line: Json = serde_json::from_str(&serve.next_line()).unwrap();
    assert_eq!(
        line,
        json!({
            "call": "record",
            "person": "bob",
            "event": "Signed Up",
            "properties": {"Plan": "Pro"},
            "method": "GET",
            "path": "/e",
            "target": "/e?_k=***&_p=bob&_n=Signed+Up&Plan=Pro",
            "query": [["_k", "***"], ["_p", "bob"], ["_n", "Signed Up"], ["Plan", "Pro"]],
        })
    );
    serve.send(&["alias", "bob", "b@c"]);
    let line: Json = serde_json::from_str(&serve.next_line()).unwrap();
    assert_eq!(line["call"], "alias");
    assert_eq!(line["identity"], "b@c");
}

#[test]
fn serve_refuses_a_port_in_use() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let r = run(km().args(["serve", "--port", &port]));
    assert_eq!(r.code, 1);
    assert_one_line_error(&r);
    assert!(r.stderr.contains(&port), "{}", r.stderr);
}

/// Writes `lines` to a temporary file.
fn batch_file(lines: &[&str]) -> tempfile::NamedTempFile {
    use std::io::Write;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    for line in lines {
        writeln!(file, "{line}").unwrap();
    }
    file.flush().unwrap();
    file
}

const GOOD_AND_BAD: &[&str] = &[
    r#"{"person": "bob", "event": "Signed Up", "properties": {"Plan": "Pro", "Amount": 99.95, "Trial": false}, "timestamp": 1381849312}"#,
    r#"{"op": "set", "person": "bob", "properties": {"gender": "male"}}"#,
    "",
    r#"{"op": "alias", "person": "bob", "identity": "bob@example.com"}"#,
    r#"{"person": "bob", "event": "broken""#,
    r#"{"person": "", "event": "Empty person"}"#,
    r#"{"op": "track", "person": "bob"}"#,
    r#"{"person": "carol", "event": "Viewed"}"#,
];

#[test]
fn batch_sends_valid_lines_and_reports_invalid_ones_by_number() {
    let server = TestServer::start();
    let file = batch_file(GOOD_AND_BAD);
    let path = file.path().to_str().unwrap();
    let r = run(&mut km_to(&server, &["record", "--batch", path]));
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_eq!(r.stdout, "delivered 4, failed 0, invalid 3 (lines 5-7)\n");
    let stderr: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(stderr.len(), 4, "{}", r.stderr);
    assert!(
        stderr[0].starts_with("km: line 5: invalid: invalid JSON line"),
        "{}",
        stderr[0]
    );
    assert_eq!(
        stderr[1],
        "km: line 6: invalid: person (_p) must not be empty"
    );
    assert!(
        stderr[2].starts_with("km: line 7: invalid: \"op\" must be"),
        "{}",
        stderr[2]
    );
    assert_eq!(stderr[3], "km: 0 calls not delivered, 3 invalid lines");

    assert!(server.wait_for_requests(4, WAIT));
    let mut requests = server.requests();
    requests.sort_by_key(|r| r.target.clone());
    let by_path = |path: &str, person: &str| {
        requests
            .iter()
            .find(|r| r.path == path && r.pair("_p") == Some(person))
            .unwrap_or_else(|| panic!("no {path} for {person}"))
    };
    let record = by_path("/e", "bob");
    assert_eq!(
        record.pairs(),
        owned(&[
            ("_k", KEY),
            ("_p", "bob"),
            ("_d", "1"),
            ("_t", "1381849312"),
            ("_n", "Signed Up"),
            ("Plan", "Pro"),
            ("Amount", "99.95"),
            ("Trial", "False"),
        ])
    );
    // Lines without a timestamp are stamped, so a retry counts once.
    let set = by_path("/s", "bob");
    assert_eq!(set.pair("_d"), Some("1"));
    assert!(set.pair("_t").unwrap().parse::<u64>().unwrap() > 1_600_000_000);
    assert_eq!(set.pair("gender"), Some("male"));
    assert_eq!(by_path("/a", "bob").pair("_n"), Some("bob@example.com"));
    assert_eq!(by_path("/e", "carol").pair("_n"), Some("Viewed"));
    assert_eq!(server.request_count(), 4);
}

#[test]
fn batch_reads_stdin_and_succeeds_when_every_line_is_delivered() {
    let server = TestServer::start();
    let lines: Vec<String> = (0..50)
        .map(|i| format!(r#"{{"person": "p{i}", "event": "e{i}"}}"#))
        .collect();
    let r = run(km_to(&server, &["record", "--batch", "-"]).write_stdin(lines.join("\n")));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "delivered 50, failed 0, invalid 0\n");
    assert_eq!(r.stderr, "");
    assert_eq!(server.request_count(), 50);
}

#[test]
fn batch_reports_undelivered_lines_by_number() {
    let server = TestServer::start();
    // One worker: the lines go out in order, so line 2 meets the 403.
    server.push_fault(Fault::status(200));
    server.push_fault(Fault::status(403));
    let file = batch_file(&[
        r#"{"person": "a", "event": "x"}"#,
        r#"{"person": "b", "event": "x"}"#,
        r#"{"person": "c", "event": "x"}"#,
    ]);
    let path = file.path().to_str().unwrap();
    let r = run(&mut km_to(
        &server,
        &["record", "--batch", path, "--workers", "1", "--json"],
    ));
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("km: line 2: not delivered: rejected: status 403"),
        "{}",
        r.stderr
    );
    let lines: Vec<Json> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert_eq!(lines[0]["line"], 2);
    assert_eq!(lines[0]["error"], "undelivered");
    assert_eq!(
        lines[1],
        json!({"summary": true, "delivered": 2, "failed": 1, "invalid": 0,
               "failed_lines": [2], "invalid_lines": []})
    );
}

#[test]
fn batch_transport_failures_are_reported_after_the_retries() {
    let host = format!("127.0.0.1:{}", closed_port());
    let file = batch_file(&[
        r#"{"person": "a", "event": "x"}"#,
        "not json",
        r#"{"op": "alias", "person": "a", "identity": "b"}"#,
    ]);
    let path = file.path().to_str().unwrap();
    let r = run(km().args([
        "record",
        "--batch",
        path,
        "--key",
        KEY,
        "--scheme",
        "http",
        "--host",
        &host,
        "--retry-for",
        "0.5",
    ]));
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "delivered 0, failed 2 (lines 1, 3), invalid 1 (line 2)\n"
    );
    assert!(
        r.stderr.contains("line 1: not delivered: gave up"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("connect"), "{}", r.stderr);
}

#[test]
fn batch_dry_run_prints_every_request_and_sends_nothing() {
    let server = TestServer::start();
    let file = batch_file(GOOD_AND_BAD);
    let path = file.path().to_str().unwrap();
    let r = run(&mut km_to(
        &server,
        &["record", "--batch", path, "--dry-run"],
    ));
    assert_eq!(r.code, 5);
    let out: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(out.len(), 5, "{}", r.stdout);
    assert_eq!(
        out[0],
        format!(
            "GET http://{}/e?_k=***&_p=bob&_d=1&_t=1381849312&_n=Signed+Up&Plan=Pro&Amount=99.95&Trial=False",
            server.host_port()
        )
    );
    assert!(out[1].contains("/s?_k=***&_p=bob&_d=1&_t="), "{}", out[1]);
    assert_eq!(
        out[4],
        "printed 4 (nothing sent), failed 0, invalid 3 (lines 5-7)"
    );
    assert!(!server.wait_for_requests(1, Duration::from_millis(200)));

    let r = run(&mut km_to(
        &server,
        &["record", "--batch", path, "--dry-run", "--json"],
    ));
    let last: Json = serde_json::from_str(r.stdout.lines().last().unwrap()).unwrap();
    assert_eq!(last["printed"], 4);
    assert_eq!(last["invalid_lines"], json!([5, 6, 7]));
}

#[test]
fn batch_usage_errors() {
    let server = TestServer::start();
    let r = run(&mut km_to(
        &server,
        &["record", "--batch", "/nonexistent/km-batch.jsonl"],
    ));
    assert_eq!(r.code, 1);
    assert_one_line_error(&r);
    assert!(
        r.stderr.contains("/nonexistent/km-batch.jsonl"),
        "{}",
        r.stderr
    );
    let r = run(&mut km_to(&server, &["record", "--batch", "-", "bob"]));
    assert_eq!(r.code, 2);
    assert_one_line_error(&r);
    let r = run(&mut km_to(
        &server,
        &["record", "bob", "x", "--retry-for", "5"],
    ));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--batch"), "{}", r.stderr);
    let r = run(km().args(["record", "--batch", "-"]).write_stdin("{}\n"));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("KM_KEY"), "{}", r.stderr);
    assert_eq!(server.request_count(), 0);
}

/// Fills an outbox with `n` record calls per writer, each writer leaving
/// its own segment, by sending them where nothing listens.
fn fill_outbox(dir: &std::path::Path, writers: usize, n: usize) {
    use kissmetrics::outbox::Outbox;
    use kissmetrics::proto::RetryPolicy;
    use kissmetrics::sender::Sender;
    use kissmetrics::{Client, Scheme};

    let host = format!("127.0.0.1:{}", closed_port());
    for w in 0..writers {
        // A sender replays the outbox it opens: each writer gets its own
        // directory, and its segments are moved into `dir` afterwards.
        let own = tempfile::tempdir().unwrap();
        let client = Client::builder(KEY)
            .scheme(Scheme::Http)
            .host(&host)
            .build()
            .unwrap();
        let sender = Sender::builder()
            .retry(RetryPolicy::never())
            .outbox(Outbox::new(own.path()))
            .build(client)
            .unwrap();
        for i in 0..n {
            sender
                .record(&format!("w{w}-p{i}"), "Queued", [("i", i)])
                .unwrap();
        }
        let report = sender.shutdown(WAIT);
        assert_eq!(report.lost, 0);
        for entry in std::fs::read_dir(own.path()).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|x| x == "seg") {
                std::fs::rename(&path, dir.join(path.file_name().unwrap())).unwrap();
            }
        }
    }
}

fn segments(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .path()
                .extension()
                .is_some_and(|x| x == "seg")
        })
        .count()
}

#[test]
fn send_replays_an_outbox_and_empties_it() {
    let dir = tempfile::tempdir().unwrap();
    fill_outbox(dir.path(), 1, 5);
    assert!(segments(dir.path()) > 0);
    let server = TestServer::start();
    let outbox = dir.path().to_str().unwrap();
    let r = run(&mut km_to(&server, &["send", "--outbox", outbox]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "replayed 5: delivered 5, failed 0, kept 0 for the next run, quarantined 0\n"
    );
    assert_eq!(server.request_count(), 5);
    let request = &server.requests()[0];
    assert_eq!(request.pair("_k"), Some(KEY));
    assert_eq!(request.pair("_n"), Some("Queued"));
    assert_eq!(segments(dir.path()), 0);

    // Nothing left: a second run sends nothing and succeeds.
    let r = run(&mut km_to(&server, &["send", "--outbox", outbox, "--json"]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let summary: Json = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(summary["replayed"], 0);
    assert_eq!(server.request_count(), 5);
}

#[test]
fn send_keeps_what_it_cannot_deliver_for_the_next_run() {
    let dir = tempfile::tempdir().unwrap();
    fill_outbox(dir.path(), 1, 3);
    let outbox = dir.path().to_str().unwrap();
    let host = format!("127.0.0.1:{}", closed_port());
    let r = run(km().args([
        "send",
        "--outbox",
        outbox,
        "--key",
        KEY,
        "--scheme",
        "http",
        "--host",
        &host,
        "--retry-for",
        "0",
    ]));
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "replayed 3: delivered 0, failed 0, kept 3 for the next run, quarantined 0\n"
    );
    assert_one_line_error(&r);

    // A rejected entry is reported and dropped; the others are delivered.
    let server = TestServer::start();
    server.push_fault(Fault::status(400));
    let r = run(&mut km_to(&server, &["send", "--outbox", outbox, "--json"]));
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert!(
        r.stderr.contains("not delivered: /e?_p=w0-p"),
        "{}",
        r.stderr
    );
    let lines: Vec<Json> = r
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["error"], "undelivered");
    assert_eq!(
        lines[1],
        json!({"summary": true, "replayed": 3, "delivered": 2, "failed": 1, "kept": 0,
               "quarantined": 0, "outbox_errors": 0})
    );
    assert_eq!(segments(dir.path()), 0);
}

#[test]
fn concurrent_sends_deliver_each_entry_once() {
    let dir = tempfile::tempdir().unwrap();
    fill_outbox(dir.path(), 6, 20);
    assert!(segments(dir.path()) >= 6);
    let server = TestServer::start();
    let outbox = dir.path().to_str().unwrap().to_owned();
    let host = server.host_port();
    let runs: Vec<_> = (0..3)
        .map(|_| {
            let (outbox, host) = (outbox.clone(), host.clone());
            thread::spawn(move || {
                run(km().args([
                    "send", "--outbox", &outbox, "--key", KEY, "--scheme", "http", "--host", &host,
                ]))
            })
        })
        .collect();
    let mut replayed = 0;
    for handle in runs {
        let r = handle.join().unwrap();
        assert_eq!(r.code, 0, "{}", r.stderr);
        let n: usize = r.stdout["replayed ".len()..]
            .split(':')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        replayed += n;
    }
    assert_eq!(replayed, 120);
    let requests = server.requests();
    assert_eq!(requests.len(), 120);
    let mut people: Vec<&str> = requests.iter().map(|r| r.pair("_p").unwrap()).collect();
    people.sort_unstable();
    people.dedup();
    assert_eq!(people.len(), 120, "an entry was sent twice");
    assert_eq!(segments(dir.path()), 0);
}

#[test]
fn send_needs_an_existing_outbox_and_a_key() {
    let server = TestServer::start();
    let r = run(&mut km_to(
        &server,
        &["send", "--outbox", "/nonexistent/km-outbox"],
    ));
    assert_eq!(r.code, 1);
    assert_one_line_error(&r);
    let dir = tempfile::tempdir().unwrap();
    let r = run(km().args(["send", "--outbox", dir.path().to_str().unwrap()]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("KM_KEY"), "{}", r.stderr);
}

#[test]
fn send_quarantines_corrupt_entries_and_reports_them() {
    let dir = tempfile::tempdir().unwrap();
    fill_outbox(dir.path(), 1, 2);
    std::fs::write(dir.path().join("1-1-corrupt.seg"), b"not a frame at all").unwrap();
    let server = TestServer::start();
    let r = run(&mut km_to(
        &server,
        &["send", "--outbox", dir.path().to_str().unwrap()],
    ));
    assert_eq!(r.code, 5, "{}", r.stderr);
    assert_eq!(
        r.stdout,
        "replayed 2: delivered 2, failed 0, kept 0 for the next run, quarantined 1\n"
    );
    assert!(
        r.stderr.contains("corrupt outbox entry moved to"),
        "{}",
        r.stderr
    );
    assert!(dir.path().join("quarantine").read_dir().unwrap().count() == 1);
    assert_eq!(server.request_count(), 2);
}

#[test]
fn the_proxy_option_reaches_the_transport() {
    // ureq, the default transport, tunnels every request with CONNECT; the
    // test server records the CONNECT and refuses to tunnel (405).
    let proxy = TestServer::start();
    let r = run(km().args([
        "alias",
        "bob",
        "b@c",
        "--key",
        KEY,
        "--scheme",
        "http",
        "--host",
        "trk.example",
        "--proxy",
        &proxy.base_url(),
    ]));
    assert_eq!(r.code, 3, "{}", r.stderr);
    assert_one_line_error(&r);
    let request = &proxy.requests()[0];
    assert_eq!(request.method, "CONNECT");
    assert_eq!(request.target, "trk.example:80");
    let r = run(km().args(["alias", "a", "b", "--key", KEY, "--proxy", "nonsense"]));
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("--proxy"), "{}", r.stderr);
}
