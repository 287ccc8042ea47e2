//! Input files opened relative to directory descriptors, and `--delete-source` tied to the
//! file that was actually read.
//!
//! A path is only a name: between planning, reading and deleting, a directory on it can
//! become a symbolic link and another file can be renamed onto it. So an input is opened
//! with `openat` from its walk's base directory, one component at a time, without
//! following symbolic links (unless `--follow-symlinks`), and the identity of the opened
//! file (device, inode, size, times) is kept. [`Source::remove`] unlinks the name relative
//! to the same directory descriptor, and only when that name still refers to the same,
//! unchanged file and every byte of it was read; otherwise it keeps the file and says why.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use rustix::fs::{self as rfs, AtFlags, FileType, Mode as FileMode, OFlags, Stat, CWD};

use super::error::CliError;

/// Where an input file is, for opening it relative to directory descriptors.
#[derive(Debug, Clone)]
pub struct Anchor {
    /// The directory the path starts from (the directory of a FILE argument, or a DIR
    /// argument of `-r`): named by the user, so symbolic links in it are followed.
    pub base: PathBuf,
    /// The path below `base`: directories, then the file name.
    pub rel: PathBuf,
    /// Follow symbolic links to directories below `base` (`--follow-symlinks`).
    pub follow_dirs: bool,
    /// Follow a symbolic link at the file name itself.
    pub follow_last: bool,
    /// Refuse anything but a regular file (tree entries, `--delete-source`).
    pub regular_only: bool,
}

impl Anchor {
    /// The anchor of a FILE argument: its directory and its name.
    pub fn of_argument(path: &Path, follow_last: bool, regular_only: bool) -> Option<Anchor> {
        let name = path.file_name()?;
        let base = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Some(Anchor {
            base,
            rel: PathBuf::from(name),
            follow_dirs: true,
            follow_last,
            regular_only,
        })
    }
}

/// The identity of a file, to tell whether a name still refers to it unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Identity {
    dev: u64,
    ino: u64,
    size: i64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

impl Identity {
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn of(stat: &Stat) -> Identity {
        Identity {
            dev: stat.st_dev as u64,
            ino: stat.st_ino as u64,
            size: stat.st_size as i64,
            mtime: (stat.st_mtime as i64, stat.st_mtime_nsec as i64),
            ctime: (stat.st_ctime as i64, stat.st_ctime_nsec as i64),
        }
    }

    fn same_inode(&self, other: &Identity) -> bool {
        self.dev == other.dev && self.ino == other.ino
    }
}

/// An open input file, with the directory it was opened from.
pub struct Source {
    /// The opened file.
    pub file: File,
    dir: OwnedFd,
    name: OsString,
    opened: Stat,
}

fn os_error(doing: impl std::fmt::Display, errno: rustix::io::Errno) -> CliError {
    CliError::io_while(doing, &io::Error::from(errno))
}

impl Source {
    /// Opens the file `anchor` names, component by component.
    ///
    /// # Errors
    /// The file or a directory on its way is missing, or is a symbolic link where none
    /// may be followed, or (with `regular_only`) the file is not a regular file.
    pub fn open(anchor: &Anchor) -> Result<Source, CliError> {
        let dir_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let mut dir = rfs::openat(CWD, &anchor.base, dir_flags, FileMode::empty())
            .map_err(|e| os_error(format_args!("opening {}", anchor.base.display()), e))?;
        let mut components = anchor.rel.components().peekable();
        let mut name = OsString::new();
        while let Some(component) = components.next() {
            let Component::Normal(part) = component else {
                return Err(CliError::io("the path has an unexpected component"));
            };
            if components.peek().is_none() {
                name = part.to_os_string();
                break;
            }
            let mut flags = dir_flags;
            if !anchor.follow_dirs {
                flags |= OFlags::NOFOLLOW;
            }
            dir = rfs::openat(&dir, part, flags, FileMode::empty())
                .map_err(|e| changed_or(e, part, "a directory on the path", "opening directory"))?;
        }
        let mut flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY;
        if !anchor.follow_last {
            flags |= OFlags::NOFOLLOW;
        }
        if anchor.regular_only {
            // Never block on a fifo swapped in since planning; regular files ignore it.
            flags |= OFlags::NONBLOCK;
        }
        let fd = rfs::openat(&dir, &name, flags, FileMode::empty())
            .map_err(|e| changed_or(e, &name, "the file", "opening"))?;
        let opened = rfs::fstat(&fd).map_err(|e| os_error("reading the file's status", e))?;
        let file_type = FileType::from_raw_mode(opened.st_mode);
        if file_type == FileType::Directory {
            return Err(CliError::usage("is a directory"));
        }
        if anchor.regular_only && file_type != FileType::RegularFile {
            return Err(CliError::io(
                "is not a regular file (it changed since it was listed, or \
                 --delete-source was given for a fifo, socket or device); nothing was read",
            ));
        }
        Ok(Source {
            file: File::from(fd),
            dir,
            name,
            opened,
        })
    }

    /// Deletes the file (`--delete-source`) if its name still refers to the file that was
    /// opened, unchanged, and `consumed` (when given) equals its size. `keep_hard_links`
    /// refuses a file with other names (its content would survive under them). The
    /// caller makes the removal durable (syncs [`Source::directory`]).
    ///
    /// # Errors
    /// A check failed (the file is kept; the message says why) or the unlink failed.
    pub fn remove(&self, consumed: Option<u64>, keep_hard_links: bool) -> Result<(), CliError> {
        let kept = |why: String| CliError::io(format!("{why}; the source was kept"));
        let opened = Identity::of(&self.opened);
        let now = rfs::fstat(&self.file).map_err(|e| os_error("re-reading its status", e))?;
        if Identity::of(&now) != opened {
            return Err(kept("it changed while it was being read".to_string()));
        }
        if let Some(consumed) = consumed {
            if i64::try_from(consumed).ok() != Some(opened.size) {
                return Err(kept(format!(
                    "{consumed} bytes were read but it holds {}",
                    opened.size
                )));
            }
        }
        if keep_hard_links && now.st_nlink > 1 {
            return Err(kept(format!(
                "it has {} hard links: removing this name would leave its content under \
                 the others",
                now.st_nlink
            )));
        }
        match rfs::statat(&self.dir, &self.name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(named) if Identity::of(&named).same_inode(&opened) => {}
            Ok(_) => {
                return Err(kept(
                    "its name now refers to another file (renamed or replaced while it was \
                     being read)"
                        .to_string(),
                ))
            }
            Err(e) => return Err(kept(format!("its name is gone ({})", io::Error::from(e)))),
        }
        rfs::unlinkat(&self.dir, &self.name, AtFlags::empty()).map_err(|e| {
            os_error(
                "removing the source after success (the output is complete)",
                e,
            )
        })
    }

    /// The directory the file was opened from (and removed from).
    pub fn directory(&self) -> &OwnedFd {
        &self.dir
    }
}

/// The error for a failed `openat`: a symbolic link where none may be followed means the
/// tree changed since it was listed (or a link was named with `--delete-source`).
fn changed_or(errno: rustix::io::Errno, part: &OsStr, what: &str, doing: &str) -> CliError {
    let name = Path::new(part).display();
    if errno == rustix::io::Errno::LOOP || errno == rustix::io::Errno::NOTDIR {
        CliError::io(format!(
            "{what} ({name}) is a symbolic link or no longer a directory: it changed since \
             it was listed, or needs --follow-symlinks; nothing was read"
        ))
    } else {
        os_error(format_args!("{doing} {name}"), errno)
    }
}
