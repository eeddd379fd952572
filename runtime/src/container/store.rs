//! The state store: one directory per container under `--root`, holding
//! state.json and the exec fifo. Every operation on an id holds an flock on its
//! directory; state.json is replaced atomically (temp file, swapped in).
//!
//! No fsync: the rename is what makes a save atomic against a crash of brig
//! (a reader sees the old or the new file, never half of one), and that is the
//! failure the state must survive. An fsync only adds durability across a power
//! loss or kernel crash, after which no container the state describes is still
//! running; and a state file torn by one is reported as corrupt, which
//! `delete --force` clears. It cost 0.2-7 ms per save on this project's hosts,
//! where /run is on the root disk (create saves twice; start saves nothing:
//! the fifo's absence records it, see `load_state`).

use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{open, Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;

use super::state::{ContainerState, Status};
use super::ContainerError;

pub const STATE_FILE: &str = "state.json";
pub const FIFO_FILE: &str = "exec.fifo";

/// Check that an id is a name, never a path (runc's rule: `[A-Za-z0-9_+.-]+`).
pub fn validate_id(id: &str) -> Result<(), ContainerError> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id.len() <= 1024
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+.-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(ContainerError::BadId(id.to_string()))
    }
}

#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// A held lock on a container's directory; released on drop.
#[derive(Debug)]
pub struct Locked {
    pub dir: PathBuf,
    lock: Flock<OwnedFd>,
}

impl Locked {
    pub fn raw_fd(&self) -> i32 {
        self.lock.as_raw_fd()
    }
}

impl Store {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Store { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Make the container's directory and lock it. Exactly one of several
    /// concurrent creates of an id gets past the mkdir.
    pub fn create_locked(&self, id: &str) -> Result<Locked, ContainerError> {
        validate_id(id)?;
        // Made 0700 as runc makes its root: only root walks to the states.
        // Each container's directory stays 0711 (the init may open its fifo
        // after switching user).
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(|e| ContainerError::io(&self.root, e))?;
        // The directory appears under its id already locked: made under a name
        // no id can have, locked, then renamed into place (never over another).
        // So no other command ever finds the id without its lock held.
        let dir = self.dir(id);
        let tmp = self
            .root
            .join(format!("#creating-{id}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp); // a leftover of a killed create of ours
        std::fs::DirBuilder::new()
            .mode(0o711)
            .create(&tmp)
            .map_err(|e| ContainerError::io(&tmp, e))?;
        let fd = open(
            &tmp,
            OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ContainerError::io(&tmp, e.into()))?;
        let lock = Flock::lock(fd, FlockArg::LockExclusive)
            .map_err(|(_, e)| ContainerError::io(&tmp, e.into()))?;
        let renamed = nix::fcntl::renameat2(
            nix::fcntl::AT_FDCWD,
            &tmp,
            nix::fcntl::AT_FDCWD,
            &dir,
            nix::fcntl::RenameFlags::RENAME_NOREPLACE,
        );
        match renamed {
            Ok(()) => Ok(Locked { dir, lock }),
            Err(e) => {
                let _ = std::fs::remove_dir(&tmp);
                match e {
                    nix::Error::EEXIST => Err(ContainerError::Exists(id.to_string())),
                    e => Err(ContainerError::io(&dir, e.into())),
                }
            }
        }
    }

    /// Remove what creates of `id` killed before their rename left behind
    /// (`#creating-ID-PID` of a pid that is gone).
    pub fn remove_stale_creating(&self, id: &str) {
        let prefix = format!("#creating-{id}-");
        let Ok(rd) = std::fs::read_dir(&self.root) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix(&prefix)
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            if !Path::new(&format!("/proc/{pid}")).exists() {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }

    /// Lock an existing container's directory.
    pub fn lock(&self, id: &str) -> Result<Locked, ContainerError> {
        validate_id(id)?;
        let dir = self.dir(id);
        self.lock_dir(id, dir)
    }

    fn lock_dir(&self, id: &str, dir: PathBuf) -> Result<Locked, ContainerError> {
        loop {
            let fd = match open(
                &dir,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
                Mode::empty(),
            ) {
                Ok(fd) => fd,
                Err(nix::Error::ENOENT) => return Err(ContainerError::NotFound(id.to_string())),
                Err(e) => return Err(ContainerError::io(&dir, e.into())),
            };
            let lock = Flock::lock(fd, FlockArg::LockExclusive)
                .map_err(|(_, e)| ContainerError::io(&dir, e.into()))?;
            // While we waited, the holder may have removed the directory (delete),
            // and someone may have made a new one of the same id (create). Our lock
            // counts only if it is on the directory the path names now.
            let held =
                nix::sys::stat::fstat(&*lock).map_err(|e| ContainerError::io(&dir, e.into()))?;
            match nix::sys::stat::stat(&dir) {
                Ok(now) if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino) => {
                    return Ok(Locked { dir, lock })
                }
                Ok(_) => continue, // a successor: lock that one instead
                Err(nix::Error::ENOENT) => return Err(ContainerError::NotFound(id.to_string())),
                Err(e) => return Err(ContainerError::io(&dir, e.into())),
            }
        }
    }

    pub fn load(&self, locked: &Locked, id: &str) -> Result<ContainerState, ContainerError> {
        load_state(&locked.dir.join(STATE_FILE), id)
    }

    /// Read a state without taking the lock (for `state` and `list`): the rename
    /// in `save` means a reader sees the old or the new file, never half of one.
    pub fn peek(&self, id: &str) -> Result<ContainerState, ContainerError> {
        validate_id(id)?;
        let dir = self.dir(id);
        if !dir.is_dir() {
            return Err(ContainerError::NotFound(id.to_string()));
        }
        match load_state(&dir.join(STATE_FILE), id) {
            // A create is between its mkdir and its first save: wait for its lock.
            Err(ContainerError::NoState(_)) => {
                let locked = self.lock(id)?;
                self.load(&locked, id)
            }
            r => r,
        }
    }

    pub fn save(&self, locked: &Locked, state: &ContainerState) -> Result<(), ContainerError> {
        let path = locked.dir.join(STATE_FILE);
        let data = serde_json::to_vec(state).map_err(|e| ContainerError::Corrupt {
            path: path.clone(),
            msg: e.to_string(),
        })?;
        // Temp file (.state.json.tmp) and rename, without fsync: see the
        // module's comment. 0600, as runc's state.json: it names the bundle,
        // the pid, the cgroup and the hooks.
        write_private(&path, &data).map_err(|e| ContainerError::io(&path, e))
    }

    /// Remove the container's directory (the lock goes with it).
    pub fn remove(&self, locked: Locked) -> Result<(), ContainerError> {
        let dir = locked.dir.clone();
        std::fs::remove_dir_all(&dir).map_err(|e| ContainerError::io(&dir, e))?;
        drop(locked);
        Ok(())
    }

    /// Ids of every container directory, sorted.
    pub fn ids(&self) -> Result<Vec<String>, ContainerError> {
        let rd = match std::fs::read_dir(&self.root) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(ContainerError::io(&self.root, e)),
        };
        let mut ids: Vec<String> = rd
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| validate_id(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }
}

/// Read a state. A `created` container whose exec fifo is gone has been started
/// (start removes the fifo before it releases the init), whatever the record says.
fn load_state(path: &Path, id: &str) -> Result<ContainerState, ContainerError> {
    let data = match std::fs::read(path) {
        Ok(d) => d,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ContainerError::NoState(id.to_string()))
        }
        Err(e) => return Err(ContainerError::io(path, e)),
    };
    let mut state: ContainerState =
        serde_json::from_slice(&data).map_err(|e| ContainerError::Corrupt {
            path: path.to_path_buf(),
            msg: e.to_string(),
        })?;
    if state.status == Status::Created && !path.with_file_name(FIFO_FILE).exists() {
        state.status = Status::Running;
    }
    Ok(state)
}

/// Write `data` to `path` as a 0600 file, swapped in atomically.
fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    crate::sys::replace_file(path, data, false, 0o600)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_swap_whole_files_and_leave_no_temp() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state.json");
        write_private(&path, b"first").unwrap(); // no file yet: a plain rename
        write_private(&path, b"second, longer").unwrap(); // an exchange
        write_private(&path, b"third").unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"third");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn ids_are_names_not_paths() {
        for bad in ["", ".", "..", "a/b", "../x", "a\0b", "sp ace", "/abs"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a", "web-1", "x_y.z+1", "ABC"] {
            assert!(validate_id(good).is_ok(), "{good:?} refused");
        }
    }

    #[test]
    fn a_lock_on_a_removed_directory_is_not_the_lock_of_its_successor() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path().join("root"));
        let first = store.create_locked("c1").unwrap();
        let ino = |store: &Store| {
            std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(store.dir("c1")).unwrap())
        };
        // Poll /proc/locks (with a deadline) until someone waits on the flock of `ino`.
        let blocked_on = |ino: u64, waiter: &std::thread::JoinHandle<_>| {
            let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
            loop {
                let locks = std::fs::read_to_string("/proc/locks").unwrap();
                if locks
                    .lines()
                    .any(|l| l.contains("-> FLOCK") && l.contains(&format!(":{ino} ")))
                {
                    return;
                }
                assert!(
                    !waiter.is_finished(),
                    "the waiter took a lock on a removed directory"
                );
                assert!(
                    std::time::Instant::now() < deadline,
                    "nobody waits on {ino}"
                );
                std::thread::yield_now();
            }
        };
        let old = ino(&store);
        let s2 = store.clone();
        let waiter = std::thread::spawn(move || s2.lock("c1").map(|l| l.dir.clone()));
        blocked_on(old, &waiter);
        std::fs::remove_dir_all(store.dir("c1")).unwrap();
        let successor = store.create_locked("c1").unwrap();
        drop(first);
        // The waiter must move on to wait for the successor's lock.
        blocked_on(ino(&store), &waiter);
        drop(successor);
        assert!(waiter.join().unwrap().is_ok());
    }

    #[test]
    fn only_one_create_of_an_id_wins() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::new(d.path().join("root"));
        let first = store.create_locked("c1").unwrap();
        assert!(matches!(
            store.create_locked("c1"),
            Err(ContainerError::Exists(_))
        ));
        store.remove(first).unwrap();
        assert!(matches!(store.lock("c1"), Err(ContainerError::NotFound(_))));
        store.create_locked("c1").unwrap();
    }
}
