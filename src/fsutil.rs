//! File-system helpers shared by every stage that writes outputs.

use std::io::Write;
use std::path::Path;

/// Write `bytes` to `path` atomically: a temporary file in the same folder, flushed to disk,
/// then renamed over the target, so a reader or a killed process never sees half a file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Unique per process and per call: threads of one process may fill the same entry.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable where the platform allows it.
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// File systems shared over a network, by their names in `/proc/self/mountinfo`: file
/// locking there is missing, emulated or local to one host.
const NETWORK_FILESYSTEMS: &[&str] = &[
    "nfs",
    "nfs4",
    "cifs",
    "smb3",
    "smbfs",
    "lustre",
    "gpfs",
    "beegfs",
    "ceph",
    "glusterfs",
    "9p",
    "afs",
    "ocfs2",
    "gfs2",
    "fuse.sshfs",
    "fuse.glusterfs",
    "fuse.ceph",
    "fuse.beegfs",
];

/// The network file system `path` lies on, as (type, mount point), where the mount table
/// can be read (Linux); `None` for a local one.
pub fn network_filesystem(path: &Path) -> Option<(String, std::path::PathBuf)> {
    let table = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    // The path may not exist yet: its nearest existing ancestor decides.
    let absolute = std::path::absolute(path).ok()?;
    let real = absolute
        .ancestors()
        .find_map(|a| a.canonicalize().ok())
        .unwrap_or(absolute);
    filesystem_of(&table, &real).filter(|(kind, _)| NETWORK_FILESYSTEMS.contains(&kind.as_str()))
}

/// The file system type and mount point of `path` in a mountinfo table: the longest mount
/// point above it (the last mounted wins among equals, as the kernel stacks them).
fn filesystem_of(table: &str, path: &Path) -> Option<(String, std::path::PathBuf)> {
    let mut best: Option<(String, std::path::PathBuf)> = None;
    for line in table.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let (Some(mount), Some(kind)) = (left.split(' ').nth(4), right.split(' ').next()) else {
            continue;
        };
        let mount = std::path::PathBuf::from(unescape_mount(mount));
        let deeper = best
            .as_ref()
            .is_none_or(|(_, b)| mount.components().count() >= b.components().count());
        if path.starts_with(&mount) && deeper {
            best = Some((kind.to_string(), mount));
        }
    }
    best
}

/// Mount points escape space, tab, newline and backslash as three octal digits.
fn unescape_mount(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod mount_tests {
    use super::filesystem_of;
    use std::path::Path;

    const TABLE: &str = "\
22 1 0:21 / / rw,relatime - overlay overlay rw
30 22 0:40 / /scratch rw,relatime - nfs4 fs:/export rw,vers=4.2
31 30 0:41 / /scratch/local\\040disk rw - ext4 /dev/sdb1 rw
32 22 0:42 / /lustre rw - lustre 10.0.0.1@tcp:/fs rw
";

    #[test]
    fn the_deepest_mount_above_a_path_decides() {
        let of =
            |p: &str| filesystem_of(TABLE, Path::new(p)).map(|(k, m)| (k, m.display().to_string()));
        assert_eq!(
            of("/scratch/me/runs/agf.sqlite"),
            Some(("nfs4".into(), "/scratch".into()))
        );
        assert_eq!(
            of("/scratch/local disk/agf.sqlite"),
            Some(("ext4".into(), "/scratch/local disk".into()))
        );
        assert_eq!(of("/lustre/x"), Some(("lustre".into(), "/lustre".into())));
        assert_eq!(of("/home/me"), Some(("overlay".into(), "/".into())));
        // A sibling whose name starts like a mount point is not under it.
        assert_eq!(of("/scratchpad/x").map(|x| x.0), Some("overlay".into()));
    }
}
