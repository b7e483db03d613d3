//! Repository policy as ordinary tests: the architecture invariants of ARCHITECTURE.md, and no
//! stubs in the tree.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn manifest(krate: &str) -> String {
    std::fs::read_to_string(root().join("crates").join(krate).join("Cargo.toml")).unwrap()
}

fn dependencies(krate: &str) -> Vec<String> {
    let text = manifest(krate);
    let mut deps = Vec::new();
    let mut in_deps = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_deps = line == "[dependencies]";
            continue;
        }
        if in_deps {
            if let Some((name, _)) = line.split_once('=') {
                deps.push(name.trim().trim_end_matches(".workspace").to_string());
            }
        }
    }
    deps
}

#[test]
fn crate_boundaries_hold() {
    let io = ["tokio", "sqlx", "axum", "hyper", "tower"];
    for pure in ["model", "routing", "sip", "media", "flow"] {
        let deps = dependencies(pure);
        for d in io {
            assert!(
                !deps.contains(&d.to_string()),
                "the {pure} crate is pure: it must not depend on {d}"
            );
        }
    }
    let store = dependencies("store");
    assert!(
        !store.iter().any(|d| d == "axum" || d == "hotline-api"),
        "storage knows nothing of HTTP"
    );
    let api = dependencies("api");
    assert!(
        !api.contains(&"sqlx".to_string()),
        "only the store crate knows SQL"
    );
    let routing = dependencies("routing");
    for d in ["hotline-store", "hotline-api", "hotline-acd"] {
        assert!(
            !routing.contains(&d.to_string()),
            "the routing engine knows nothing of storage or HTTP: it must not depend on {d}"
        );
    }
    assert!(
        !dependencies("telephony")
            .iter()
            .any(|d| d == "axum" || d == "sqlx"),
        "the telephony shell goes through the store and has no HTTP"
    );
    assert!(
        !dependencies("acd")
            .iter()
            .any(|d| d == "axum" || d == "sqlx"),
        "the routing shell goes through the store and has no HTTP"
    );
    assert!(
        !dependencies("channels")
            .iter()
            .any(|d| d == "axum" || d == "sqlx" || d == "hotline-api"),
        "the channels shell goes through the store and has no HTTP"
    );
    let sip = dependencies("sip");
    for d in [
        "hotline-model",
        "hotline-store",
        "hotline-api",
        "hotline-routing",
    ] {
        assert!(
            !sip.contains(&d.to_string()),
            "the SIP stack knows nothing of contact centres: it must not depend on {d}"
        );
    }
    for krate in [
        "model",
        "routing",
        "acd",
        "store",
        "api",
        "sip",
        "telephony",
        "channels",
    ] {
        assert!(
            !dependencies(krate).contains(&"hotline".to_string()),
            "nothing depends on the binary"
        );
    }
}

#[test]
fn only_the_store_crate_writes_sql() {
    for krate in [
        "api",
        "acd",
        "hotline",
        "model",
        "routing",
        "sip",
        "telephony",
        "channels",
    ] {
        for file in rust_files(&root().join("crates").join(krate).join("src")) {
            let text = std::fs::read_to_string(&file).unwrap();
            assert!(!text.contains("sqlx::"), "{} uses sqlx", file.display());
        }
    }
}

#[test]
fn no_stubs_or_ignored_tests() {
    let banned = [
        concat!("todo", "!("),
        concat!("unimplemented", "!("),
        concat!("#[", "ignore"),
    ];
    let mut files = rust_files(&root().join("crates"));
    files.extend(rust_files(&root().join("xtask")));
    assert!(files.len() > 20);
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        for b in banned {
            assert!(!text.contains(b), "{} contains {b}", file.display());
        }
    }
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out
}
