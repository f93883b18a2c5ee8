//! What sled's own flush leaves out, synced after each of ours.
//!
//! `Db::flush` writes the log with `sync_file_range`, which on Linux persists neither the
//! file's size and block map (the log grows as segments are appended) nor the disk's write
//! cache; sled's periodic `sync_all` runs only once a second. Page images too big for the log
//! (over ~128 KiB: a multipart object with hundreds of parts) go to files under `blobs/` that
//! sled never syncs at all. An acknowledged write must survive a power cut, not only a crash of
//! the process, so every group commit ends here: new or grown blob files and their directory,
//! then `fdatasync` of the log.

use std::collections::HashMap;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use crate::store::sync_dir;

pub struct SledSync {
    log: File,
    blobs: PathBuf,
    /// Blob files already synced, with the length they had then. sled writes a blob once, in
    /// order; one caught mid-write has a shorter length and is synced again next time.
    synced: Mutex<HashMap<OsString, u64>>,
}

impl SledSync {
    /// After `sled::Config::open` on `path`: also makes the files sled just created durable.
    pub fn open(path: &Path) -> io::Result<Self> {
        let log = File::open(path.join("db"))?;
        let blobs = path.join("blobs");
        let s = SledSync { log, blobs, synced: Mutex::new(HashMap::new()) };
        s.sync()?;
        sync_dir(path)?;
        Ok(s)
    }

    pub fn sync(&self) -> io::Result<()> {
        let mut synced = self.synced.lock().unwrap_or_else(|p| p.into_inner());
        let mut present = HashMap::with_capacity(synced.len());
        let mut new = false;
        let entries = match std::fs::read_dir(&self.blobs) {
            Ok(entries) => entries,
            // sled creates the directory at open; without it there are no blobs to sync.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                drop(synced);
                return self.log.sync_data();
            }
            Err(e) => return Err(e),
        };
        for entry in entries {
            let entry = entry?;
            let name = entry.file_name();
            let len = match entry.metadata() {
                Ok(m) => m.len(),
                // sled removed it since the listing: nothing to keep.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            if synced.get(&name) != Some(&len) {
                match File::open(entry.path()) {
                    Ok(f) => f.sync_data()?,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                }
                new = true;
            }
            present.insert(name, len);
        }
        if new {
            sync_dir(&self.blobs)?;
        }
        *synced = present;
        drop(synced);
        self.log.sync_data()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syncs_each_blob_once_per_length() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("blobs")).unwrap();
        std::fs::write(dir.path().join("db"), b"log").unwrap();
        let s = SledSync::open(dir.path()).unwrap();
        assert!(s.synced.lock().unwrap().is_empty());
        std::fs::write(dir.path().join("blobs/7"), b"ab").unwrap();
        s.sync().unwrap();
        assert_eq!(s.synced.lock().unwrap().get(&OsString::from("7")), Some(&2));
        std::fs::write(dir.path().join("blobs/7"), b"abcd").unwrap();
        s.sync().unwrap();
        assert_eq!(s.synced.lock().unwrap().get(&OsString::from("7")), Some(&4), "grown: synced again");
        std::fs::remove_file(dir.path().join("blobs/7")).unwrap();
        s.sync().unwrap();
        assert!(s.synced.lock().unwrap().is_empty(), "removed blobs are forgotten");
    }
}
