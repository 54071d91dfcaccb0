//! The image of a WASI command workload (see `container/command.rs`): its static executable as `/command`,
//! the module's directory as `/work` (the working directory, as the directory is `.` under WASI), with its
//! subdirectories and symbolic links as they are, and `keepalive` (the static `noop` workload) as `/keepalive`
//! for warm containers.
//!
//! Files are streamed, never held whole: read once for the tag (a hash of every path, kind and byte), and once
//! more, only when the engine lacks the image, into a build context on disk that is streamed to the engine.
//! Each file is held to the one size rule of a command's files ([`contract::MAX_FILE_BYTES`]).

use super::{BuildContext, MANAGED_LABEL, build_unless_present};
use crate::artifacts::ContainerImage;
use crate::runtime::wasi::contract;
use anyhow::Context;
use sha2::{Digest, Sha256};
use std::io::{Read, Seek};
use std::path::{Path, PathBuf};

/// One entry of the module's directory, by its path relative to it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Entry {
    Dir(PathBuf),
    File { path: PathBuf, bytes: u64 },
    Symlink { path: PathBuf, target: PathBuf },
}

/// Every directory, regular file and symbolic link under `dir`, sorted, links not followed (a link is kept as a
/// link, as the guest sees it through its preopen). Other kinds (sockets, fifos) are left out.
fn walk(dir: &Path) -> anyhow::Result<Vec<Entry>> {
    let mut entries = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(relative) = pending.pop() {
        let listing = std::fs::read_dir(dir.join(&relative))
            .with_context(|| format!("listing {}", dir.join(&relative).display()))?;
        for item in listing {
            let item = item.with_context(|| format!("listing {}", dir.join(&relative).display()))?;
            let path = relative.join(item.file_name());
            let full = item.path();
            let kind = item
                .file_type()
                .with_context(|| format!("reading {}", full.display()))?;
            if kind.is_symlink() {
                let target = std::fs::read_link(&full).with_context(|| format!("reading {}", full.display()))?;
                entries.push(Entry::Symlink { path, target });
            } else if kind.is_dir() {
                entries.push(Entry::Dir(path.clone()));
                pending.push(path);
            } else if kind.is_file() {
                let bytes = item
                    .metadata()
                    .with_context(|| format!("reading {}", full.display()))?
                    .len();
                contract::check_file_size(
                    &full,
                    bytes,
                    "files beside a command module are copied into its container image",
                )
                .map_err(anyhow::Error::msg)?;
                entries.push(Entry::File { path, bytes });
            }
        }
    }
    entries.sort_by(|a, b| entry_path(a).cmp(entry_path(b)));
    Ok(entries)
}

fn entry_path(entry: &Entry) -> &Path {
    match entry {
        Entry::Dir(path) | Entry::File { path, .. } | Entry::Symlink { path, .. } => path,
    }
}

/// Streams `path` into `hasher`; returns how many bytes it read.
fn hash_file(hasher: &mut Sha256, path: &Path) -> anyhow::Result<u64> {
    let mut file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
    let mut buffer = vec![0u8; 1 << 20];
    let mut total = 0;
    loop {
        let n = file
            .read(&mut buffer)
            .with_context(|| format!("reading {}", path.display()))?;
        if n == 0 {
            return Ok(total);
        }
        hasher.update(&buffer[..n]);
        total += n as u64;
    }
}

/// The image's content hash: the executables and every entry of the directory (path, kind, bytes or target).
fn content_hash(files: &[(&str, &Path)], dir: &Path, entries: &[Entry]) -> anyhow::Result<String> {
    let mut hasher = Sha256::new();
    for (name, path) in files {
        hasher.update(name.as_bytes());
        let bytes = hash_file(&mut hasher, path)?;
        hasher.update(bytes.to_le_bytes());
    }
    for entry in entries {
        let path = entry_path(entry);
        hasher.update(path.as_os_str().as_encoded_bytes());
        match entry {
            Entry::Dir(_) => hasher.update(b"\0dir\0"),
            Entry::Symlink { target, .. } => {
                hasher.update(b"\0link\0");
                hasher.update(target.as_os_str().as_encoded_bytes());
            }
            Entry::File { bytes, .. } => {
                hasher.update(b"\0file\0");
                hasher.update(bytes.to_le_bytes());
                hash_file(&mut hasher, &dir.join(path))?;
            }
        }
    }
    Ok(hasher.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect())
}

/// The build context, a tar written to an unnamed temporary file: the Dockerfile, the two executables, and
/// `work/` with the directory's entries.
fn build_context(executable: &Path, keepalive: &Path, dir: &Path, entries: &[Entry]) -> anyhow::Result<BuildContext> {
    let file = tempfile::tempfile().context("creating a temporary file for the image build context")?;
    let mut archive = tar::Builder::new(file);
    archive.follow_symlinks(false);
    let fail = || "writing the image build context";
    let dockerfile = format!(
        "FROM scratch\nLABEL {MANAGED_LABEL}=true\nCOPY command keepalive /\nCOPY work /work\nWORKDIR /work\n\
         ENTRYPOINT [\"/command\"]\n"
    );
    let mut header = tar::Header::new_gnu();
    header.set_size(dockerfile.len() as u64);
    header.set_mode(0o644);
    header.set_cksum();
    archive
        .append_data(&mut header, "Dockerfile", dockerfile.as_bytes())
        .with_context(fail)?;
    for (name, path) in [("command", executable), ("keepalive", keepalive)] {
        let file = std::fs::File::open(path).with_context(|| format!("reading {}", path.display()))?;
        let bytes = file
            .metadata()
            .with_context(|| format!("reading {}", path.display()))?
            .len();
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes);
        header.set_mode(0o755);
        header.set_cksum();
        archive
            .append_data(&mut header, name, file.take(bytes))
            .with_context(fail)?;
    }
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_size(0);
    header.set_mode(0o755);
    header.set_cksum();
    archive
        .append_data(&mut header, "work/", std::io::empty())
        .with_context(fail)?;
    for entry in entries {
        let inside = Path::new("work").join(entry_path(entry));
        let mut header = tar::Header::new_gnu();
        match entry {
            Entry::Dir(_) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                header.set_mode(0o755);
                header.set_cksum();
                archive
                    .append_data(&mut header, &inside, std::io::empty())
                    .with_context(fail)?;
            }
            Entry::Symlink { target, .. } => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                header.set_mode(0o777);
                archive.append_link(&mut header, &inside, target).with_context(fail)?;
            }
            Entry::File { path, bytes } => {
                let full = dir.join(path);
                let file = std::fs::File::open(&full).with_context(|| format!("reading {}", full.display()))?;
                header.set_size(*bytes);
                header.set_mode(0o644);
                header.set_cksum();
                // At most the size hashed: a file that grew since is cut there rather than tearing the archive.
                archive
                    .append_data(&mut header, &inside, file.take(*bytes))
                    .with_context(fail)?;
            }
        }
    }
    let mut file = archive.into_inner().with_context(fail)?;
    file.rewind().with_context(fail)?;
    Ok(BuildContext::File(file))
}

/// The image of a command workload, built unless the engine has it; see the module's documentation.
pub fn ensure_command_image(
    workload: &str,
    executable: &Path,
    keepalive: &Path,
    dir: &Path,
) -> anyhow::Result<ContainerImage> {
    let entries = walk(dir)?;
    let hash = content_hash(&[("command", executable), ("keepalive", keepalive)], dir, &entries)?;
    // Image names are lowercase `[a-z0-9._-]`; a plan's workload name may be anything.
    let repository: String = workload
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '.' | '_' | '-') => c,
            _ => '-',
        })
        .collect();
    let tag = format!("harness-command/{repository}:{hash}");
    build_unless_present(&tag, || build_context(executable, keepalive, dir, &entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_walk_keeps_subdirectories_and_links_and_holds_files_to_the_size_rule() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("sub/deeper")).unwrap();
        std::fs::write(dir.path().join("top.txt"), b"top").unwrap();
        std::fs::write(dir.path().join("sub/deeper/file"), b"deep").unwrap();
        std::os::unix::fs::symlink("sub/deeper/file", dir.path().join("link")).unwrap();
        let entries = walk(dir.path()).unwrap();
        assert_eq!(
            entries,
            vec![
                Entry::Symlink {
                    path: "link".into(),
                    target: "sub/deeper/file".into()
                },
                Entry::Dir("sub".into()),
                Entry::Dir("sub/deeper".into()),
                Entry::File {
                    path: "sub/deeper/file".into(),
                    bytes: 4
                },
                Entry::File {
                    path: "top.txt".into(),
                    bytes: 3
                },
            ]
        );
        // A sparse file over the limit: refused by its size, without writing (or reading) its bytes.
        let huge = std::fs::File::create(dir.path().join("sub/huge.bin")).unwrap();
        huge.set_len(contract::MAX_FILE_BYTES + 1).unwrap();
        let e = walk(dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("huge.bin") && e.contains("256 MiB") && e.contains("container image"),
            "{e}"
        );
    }

    #[test]
    fn the_build_context_holds_the_tree_and_the_tag_follows_every_byte() {
        let dir = tempfile::tempdir().unwrap();
        let bin = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/file"), b"inside").unwrap();
        std::os::unix::fs::symlink("sub/file", dir.path().join("link")).unwrap();
        let (exe, keep) = (bin.path().join("exe"), bin.path().join("keep"));
        std::fs::write(&exe, b"exe").unwrap();
        std::fs::write(&keep, b"keep").unwrap();
        let entries = walk(dir.path()).unwrap();
        let BuildContext::File(file) = build_context(&exe, &keep, dir.path(), &entries).unwrap() else {
            panic!("a command's context is streamed from a file");
        };
        let mut archive = tar::Archive::new(file);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let path = entry.path().unwrap().display().to_string();
            let link = entry.link_name().unwrap().map(|l| l.display().to_string());
            let mut text = String::new();
            entry.read_to_string(&mut text).unwrap();
            seen.push((path, link, text));
        }
        let find = |p: &str| seen.iter().find(|(path, ..)| path.trim_end_matches('/') == p).cloned();
        assert_eq!(find("work/sub/file").unwrap().2, "inside");
        assert_eq!(find("work/link").unwrap().1.as_deref(), Some("sub/file"));
        assert!(find("work/sub").is_some() && find("command").is_some() && find("Dockerfile").is_some());

        let files = [("command", exe.as_path()), ("keepalive", keep.as_path())];
        let before = content_hash(&files, dir.path(), &entries).unwrap();
        std::fs::write(dir.path().join("sub/file"), b"insidE").unwrap();
        assert_ne!(before, content_hash(&files, dir.path(), &entries).unwrap());
    }
}
