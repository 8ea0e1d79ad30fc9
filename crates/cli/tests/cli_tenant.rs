//! `runnel tenant ...` and `runnel namespace ...` through the real binary against a
//! `runnel serve` child: the lifecycle, policies applied to new topics, and refusals.

mod common;

use common::{one_line_error, stdout_json, Server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_and_namespace_lifecycle_through_the_cli() {
    let server = Server::start(&[]);

    let created = stdout_json(
        &server.run(&["tenant", "create", "acme", "--max-topics", "5", "--output", "json"]).await,
    );
    assert_eq!(created["name"], "acme");
    assert_eq!(created["quotas"]["max_topics"], 5);
    let listed = stdout_json(&server.run(&["tenant", "list", "--output", "json"]).await);
    let names: Vec<&str> = listed.as_array().unwrap().iter().filter_map(|t| t["name"].as_str()).collect();
    assert_eq!(names, ["acme", "public"]);

    let ns = stdout_json(
        &server
            .run(&[
                "namespace",
                "create",
                "acme/billing",
                "--partitions",
                "4",
                "--retention-ms",
                "-1",
                "--validation",
                "none",
                "--output",
                "json",
            ])
            .await,
    );
    assert_eq!(ns["name"], "acme/billing");
    assert_eq!(ns["policy"]["partitions"], 4);
    assert_eq!(ns["policy"]["retention_ms"], -1);

    // `policy` shows, and changes only what is given.
    let p = stdout_json(
        &server
            .run(&["namespace", "policy", "acme/billing", "--compatibility", "FULL", "--output", "json"])
            .await,
    );
    assert_eq!(p["policy"]["compatibility"], "FULL");
    assert_eq!(p["policy"]["partitions"], 4, "kept");
    let text = server.run(&["namespace", "policy", "acme/billing"]).await;
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("partitions:      4") && text.contains("validation:      none"), "{text}");

    let listed = stdout_json(&server.run(&["namespace", "list", "acme", "--output", "json"]).await);
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // The topic quota and a duplicate are refused in one line.
    let e = one_line_error(&server.run(&["tenant", "create", "acme"]).await);
    assert!(e.contains("already exists"), "{e}");
    let e = one_line_error(&server.run(&["tenant", "create", "a.b"]).await);
    assert!(e.contains("invalid tenant name"), "{e}");
    let e = one_line_error(&server.run(&["namespace", "create", "nobody/x"]).await);
    assert!(e.contains("tenant 'nobody' does not exist"), "{e}");

    let q = stdout_json(
        &server.run(&["tenant", "quota", "acme", "--produce-rate", "1000", "--output", "json"]).await,
    );
    assert_eq!(q["quotas"]["produce_bytes_per_sec"], 1000);
    assert_eq!(q["quotas"]["max_topics"], 5, "kept");

    // A topic created in the namespace takes its policy; its subject is in acme's context.
    let t = stdout_json(&server.run(&["topic", "create", "acme/billing/invoices", "--output", "json"]).await);
    assert_eq!(t["partitions"].as_array().map(Vec::len), Some(4), "the namespace policy's partitions");
    assert_eq!(t["subject"], ":.acme:billing.invoices-value");
    assert_eq!(t["validation"], "none");
    let e = one_line_error(&server.run(&["namespace", "delete", "acme/billing"]).await);
    assert!(e.contains("still holds 1 topic(s)"), "{e}");
    let e = one_line_error(&server.run(&["topic", "create", "acme/nowhere/x"]).await);
    assert!(e.contains("namespace 'acme/nowhere' does not exist"), "{e}");
    assert!(server.run(&["topic", "delete", "acme/billing/invoices"]).await.status.success());

    let deleted = server.run(&["namespace", "delete", "acme/billing"]).await;
    assert!(deleted.status.success(), "{}", String::from_utf8_lossy(&deleted.stderr));
    let deleted = server.run(&["tenant", "delete", "acme"]).await;
    assert!(deleted.status.success(), "{}", String::from_utf8_lossy(&deleted.stderr));
    let e = one_line_error(&server.run(&["tenant", "describe", "acme"]).await);
    assert!(e.contains("tenant 'acme' does not exist"), "{e}");
    let e = one_line_error(&server.run(&["tenant", "delete", "public"]).await);
    assert!(e.contains("cannot be deleted"), "{e}");
    server.shutdown();
}
