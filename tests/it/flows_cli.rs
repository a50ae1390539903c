//! `hookflow flows` against the real binary serving on real sockets, and `hookflow routes` on
//! flow files without a server: output, formats and exit codes.

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::Served;
use crate::reload::{status, versioned, write};

#[tokio::test]
async fn the_flows_cli_lists_activates_and_deactivates() {
    let flows = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    write(flows.path(), "a.json", &versioned("a", "/a", 1));
    write(flows.path(), "broken.json", "{ \"id\": \"broken\" }");
    let s = Served::start(flows.path(), data.path(), &["--no-watch"]);

    let (code, out, err) = s.cli(&["flows", "list"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("ID") && lines[0].contains("STATE"), "{out}");
    assert!(
        lines[1].starts_with("a ")
            && lines[1].contains("active")
            && lines[1].contains(&s.hook("/a")),
        "{out}"
    );
    assert!(lines[2].starts_with("broken") && lines[2].contains("rejected"), "{out}");
    assert!(out.contains("broken.json was rejected (2 errors); nothing of it serves"), "{out}");

    let (code, out, err) = s.cli(&["flows", "deactivate", "a"]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(
        out,
        format!(
            "flow `a` is inactive: POST {} answers 404 (URL and credentials kept)\n",
            s.hook("/a")
        )
    );
    assert_eq!(status(&s, "/a").await, StatusCode::NOT_FOUND);
    let (code, out, _) = s.cli(&["flows", "activate", "a", "--format", "json"]);
    assert_eq!(code, Some(0));
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["flow"]["state"], "active");
    assert_eq!(status(&s, "/a").await, StatusCode::OK);

    // An unknown id: the server's refusal, on standard error, and exit 1.
    for verb in ["activate", "deactivate"] {
        let (code, out, err) = s.cli(&["flows", verb, "nope"]);
        assert_eq!(code, Some(1), "{verb}: {out}{err}");
        assert_eq!(out, "", "{verb}");
        assert_eq!(err, "hookflow flows: 404 Not Found: There is no flow `nope`.\n", "{verb}");
    }
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_hookflow"))
        .args(["flows", "list", "--admin-url", &s.admin])
        .env_remove("HOOKFLOW_ADMIN_TOKEN")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_routes_cli_prints_the_route_table_from_the_files() {
    let run = |args: &[&str]| {
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_hookflow"))
            .arg("routes")
            .args(args)
            .current_dir(crate::root())
            .output()
            .unwrap();
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (o.status.code(), text(o.stdout), text(o.stderr))
    };
    let nowhere = tempfile::tempdir().unwrap();
    let no_data = nowhere.path().join("data").display().to_string();
    let (code, out, err) = run(&["--data", &no_data]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].split_whitespace().collect::<Vec<_>>(), ["METHOD", "URL", "FLOW", "STATE"]);
    let orders = lines.iter().find(|l| l.contains("order-intake")).expect("order-intake's route");
    assert_eq!(
        orders.split_whitespace().collect::<Vec<_>>(),
        ["POST", "http://127.0.0.1:8080/hooks/orders/{region}", "order-intake", "active"]
    );

    let (code, out, _) = run(&[
        "--public-url",
        "https://hooks.example.com/",
        "--format",
        "json",
        "--data",
        &no_data,
    ]);
    assert_eq!(code, Some(0));
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["public_url"], "https://hooks.example.com");
    let urls: Vec<&str> =
        doc["routes"].as_array().unwrap().iter().map(|r| r["url"].as_str().unwrap()).collect();
    assert!(urls.contains(&"https://hooks.example.com/hooks/orders/{region}"), "{urls:?}");

    // The activation in a data directory applies; a flow with errors is left out (exit 1).
    let data = tempfile::tempdir().unwrap();
    std::fs::write(
        data.path().join("flow-activation.json"),
        r#"{"active": {"order-intake": false}}"#,
    )
    .unwrap();
    let flows = tempfile::tempdir().unwrap();
    std::fs::copy(
        crate::root().join("flows/order-intake.json"),
        flows.path().join("order-intake.json"),
    )
    .unwrap();
    write(flows.path(), "broken.json", "{}");
    let flows_arg = flows.path().display().to_string();
    let data_arg = data.path().display().to_string();
    let (code, out, err) = run(&["--flows", &flows_arg, "--data", &data_arg]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.lines().nth(1).unwrap().trim_end().ends_with("inactive"), "{out}");
    assert!(err.contains("left out"), "{err}");
    assert_eq!(run(&["--flows", "no/such/dir"]).0, Some(2));
}
