//! Writing output files safely.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// Write `bytes` to `path` so no reader ever sees a half-written file.
///
/// A regular file (or a new one) is written under a temporary name beside it and renamed
/// into place. Anything else — a device such as `/dev/null`, a FIFO, a terminal — is
/// written to directly: renaming over it would replace the device with a regular file
/// (and every program on the machine reading `/dev/null` would then read our bytes).
/// A symbolic link is followed, so the link stays and its target gets the data.
///
/// Durable: the data reaches the disk before the rename, and the rename before this returns
/// (the folder is synced too), so after a power loss the file is the old one or the new one,
/// and whatever was written after it (a run's line naming a step image) finds it there.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let target: PathBuf = match fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => match fs::canonicalize(path) {
            Ok(t) => t,
            // A dangling link: writing through it creates its target.
            Err(_) => return fs::write(path, bytes),
        },
        _ => path.to_path_buf(),
    };
    if let Ok(m) = fs::metadata(&target)
        && !m.is_file()
    {
        return fs::write(&target, bytes);
    }
    let dir = target.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let name =
        target.file_name().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "the path has no file name"))?;
    let tmp = dir.join(format!(".{}.tmp{}", name.to_string_lossy(), std::process::id()));
    let written = (|| {
        let mut f = fs::File::create(&tmp)?;
        io::Write::write_all(&mut f, bytes)?;
        f.sync_all()
    })();
    if let Err(e) = written.and_then(|_| fs::rename(&tmp, &target)) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

/// Make a folder's entries (a file created or renamed in it) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    match fs::File::open(dir) {
        Ok(d) => match d.sync_all() {
            // Some file systems cannot sync a folder; the data itself is synced.
            Err(e) if matches!(e.kind(), io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported) => Ok(()),
            r => r,
        },
        Err(e) => Err(e),
    }
}

/// A name [`write_atomically`] writes under before the rename (`.NAME.tmpPID`): left behind
/// only by a process killed in between.
pub fn is_temporary_name(name: &str) -> bool {
    name.starts_with('.')
        && name.rsplit_once(".tmp").is_some_and(|(_, pid)| !pid.is_empty() && pid.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_names_are_known_as_such() {
        assert!(is_temporary_name(".step-003-screen.png.tmp4711"));
        assert!(is_temporary_name(".run.json.tmp12"));
        for other in ["run.json", ".run.json.tmp", "notes.tmp12", ".x.tmp12a", "step-001-screen.png"] {
            assert!(!is_temporary_name(other), "{other}");
        }
    }
    use std::os::unix::fs::FileTypeExt;

    fn temp(tag: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("markpilot-files-{tag}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_regular_file_is_replaced_whole_and_no_temporary_file_stays() {
        let d = temp("regular");
        let p = d.join("out.png");
        fs::write(&p, b"old").unwrap();
        write_atomically(&p, b"new bytes").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"new bytes");
        assert_eq!(fs::read_dir(&d).unwrap().count(), 1);
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_symlink_stays_a_symlink_and_its_target_gets_the_bytes() {
        let d = temp("link");
        let target = d.join("real.png");
        fs::write(&target, b"old").unwrap();
        let link = d.join("link.png");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
        assert_eq!(fs::read(&target).unwrap(), b"new");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_fifo_is_written_to_not_replaced() {
        // Regression: `annotate --out /dev/null` once renamed a regular file over the
        // device node. A FIFO takes the same path through the code, without touching the
        // machine's /dev/null.
        let d = temp("fifo");
        let fifo = d.join("pipe");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let reader = {
            let fifo = fifo.clone();
            std::thread::spawn(move || fs::read(fifo).unwrap())
        };
        write_atomically(&fifo, b"through the pipe").unwrap();
        assert_eq!(reader.join().unwrap(), b"through the pipe");
        assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo(), "the FIFO must stay a FIFO");
        fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_directory_is_an_error() {
        let d = temp("dir");
        assert!(write_atomically(&d, b"x").is_err());
        assert!(d.is_dir());
        fs::remove_dir_all(&d).unwrap();
    }
}
