//! The Docker image is built where no Docker engine runs here, so what it needs is checked by
//! reading: every file the sources compile in from outside `src/` is copied by the Dockerfile.

use std::path::Path;

#[test]
fn the_dockerfile_copies_every_file_compiled_into_the_binary() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dockerfile = std::fs::read_to_string(root.join("Dockerfile")).unwrap();
    let copied: Vec<&str> = dockerfile
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter(|l| !l.starts_with("--from"))
        .flat_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            words[..words.len() - 1].to_vec()
        })
        .collect();
    let mut needed = Vec::new();
    let mut stack = vec![root.join("src")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            for part in text.split("include_str!(\"").skip(1) {
                let file = part.split('"').next().unwrap();
                let full = path.parent().unwrap().join(file).canonicalize().unwrap();
                let relative = full.strip_prefix(root.canonicalize().unwrap()).unwrap().to_owned();
                needed.push(relative);
            }
        }
    }
    assert!(needed.len() >= 3, "found the compiled-in files: {needed:?}");
    for file in needed {
        let first = file.components().next().unwrap().as_os_str().to_str().unwrap().to_string();
        let name = file.to_str().unwrap();
        assert!(
            copied.iter().any(|c| c.trim_end_matches('/') == name || c.trim_end_matches('/') == first),
            "the Dockerfile does not COPY {name}, which the binary compiles in"
        );
    }
}
