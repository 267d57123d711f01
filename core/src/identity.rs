//! The device's ed25519 identity, kept in a 0600 key file.
//!
//! Key file format (48 bytes): `"AZMXDK01"` (8) | seed (32) |
//! first 8 bytes of SHA-256(magic | seed). The checksum turns a truncated or
//! bit-flipped file into a clear "corrupt" error instead of a silently
//! different identity.
//!
//! The private key never leaves this type: the only operations are the
//! public key, a fingerprint, and signing of valid canonical requests.

use std::fs::{self, File};
use std::io::{ErrorKind, Read};
use std::path::{Path, PathBuf};

use ed25519_dalek::{Signer, SigningKey};
use rand_core::OsRng;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::canonical::SignedRequest;
use crate::error::{Error, KeyFileProblem};
use crate::fsutil::{parent_dir, write_private_new};

const MAGIC: &[u8; 8] = b"AZMXDK01";
const FILE_LEN: usize = 8 + 32 + 8;

/// A device's signing identity. Zeroized on drop (ed25519-dalek's
/// `SigningKey` is `ZeroizeOnDrop`); `Debug` shows only the public key.
pub struct DeviceIdentity {
    signing: SigningKey,
}

impl DeviceIdentity {
    /// Loads the key file at `path`, or creates it (atomically, mode 0600)
    /// when it does not exist. The parent directory must exist.
    ///
    /// Safe against several processes starting at once on one state
    /// directory: the file is created without replacing, and a creator that
    /// lost the race loads the key that won, so every process signs with the
    /// key on disk.
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<Self, Error> {
        Self::load_or_create_with(path.as_ref(), || {})
    }

    /// [`load_or_create`](Self::load_or_create); `after_failed_load` runs
    /// between a load that found no file and the check that decides to
    /// create one (tests put a racing creator there).
    fn load_or_create_with(path: &Path, after_failed_load: impl FnOnce()) -> Result<Self, Error> {
        let loaded = Self::load(path);
        let cannot_open = matches!(
            &loaded,
            Err(Error::KeyFile {
                problem: KeyFileProblem::Io,
                ..
            })
        );
        if !cannot_open {
            return loaded;
        }
        after_failed_load();
        if path.exists() {
            // Missing when loaded, there now: another creator won.
            return Self::load_winner(path);
        }
        match Self::create_new(path)? {
            Some(created) => Ok(created),
            None => Self::load_winner(path),
        }
    }

    /// Loads the key another process has just created. Where the file
    /// system has no hard links the winner writes the file in place, so a
    /// short read is given a moment to complete before it counts as corrupt.
    fn load_winner(path: &Path) -> Result<Self, Error> {
        let mut tries = 0;
        loop {
            match Self::load(path) {
                Err(Error::KeyFile {
                    problem: KeyFileProblem::Corrupt,
                    ..
                }) if tries < 20 => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                other => return other,
            }
        }
    }

    /// Loads an existing key file, refusing insecure permissions and corrupt files.
    pub fn load(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        let err = |problem| Error::KeyFile {
            path: path.to_path_buf(),
            problem,
        };
        check_parent(path)?;
        let mut file = File::open(path).map_err(|_| err(KeyFileProblem::Io))?;
        let meta = file.metadata().map_err(|_| err(KeyFileProblem::Io))?;
        check_mode(&meta).map_err(err)?;
        let mut buf = Zeroizing::new(Vec::with_capacity(FILE_LEN + 1));
        (&mut file)
            .take(FILE_LEN as u64 + 1)
            .read_to_end(&mut buf)
            .map_err(|_| err(KeyFileProblem::Io))?;
        if buf.len() != FILE_LEN || &buf[..8] != MAGIC || buf[40..] != checksum(&buf[8..40]) {
            return Err(err(KeyFileProblem::Corrupt));
        }
        let mut seed = Zeroizing::new([0u8; 32]);
        seed.copy_from_slice(&buf[8..40]);
        Ok(Self {
            signing: SigningKey::from_bytes(&seed),
        })
    }

    /// Creates a fresh identity and writes it atomically to `path`:
    /// temp file in the same directory created 0600, `sync_all`, hard link
    /// to `path` (which never replaces), fsync of the directory. Fails with
    /// a key-file error if `path` already exists: a device key is never
    /// replaced, or whoever holds the old one would sign with an orphan.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, Error> {
        let path = path.as_ref();
        Self::create_new(path)?.ok_or(Error::KeyFile {
            path: path.to_path_buf(),
            problem: KeyFileProblem::Io,
        })
    }

    /// [`create`](Self::create), with `Ok(None)` when a key file appeared
    /// at `path` first.
    fn create_new(path: &Path) -> Result<Option<Self>, Error> {
        let dir = check_parent(path)?;
        let identity = Self {
            signing: SigningKey::generate(&mut OsRng),
        };
        let mut contents = Zeroizing::new(Vec::with_capacity(FILE_LEN));
        contents.extend_from_slice(MAGIC);
        contents.extend_from_slice(identity.signing.as_bytes());
        contents.extend_from_slice(&checksum(identity.signing.as_bytes()));
        match write_private_new(path, &dir, &contents) {
            Ok(()) => Ok(Some(identity)),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(None),
            Err(_) => Err(Error::KeyFile {
                path: path.to_path_buf(),
                problem: KeyFileProblem::Io,
            }),
        }
    }

    /// Deterministic identity from a seed. Only for known-answer vectors and tests.
    #[cfg(any(test, feature = "test-vectors"))]
    #[doc(hidden)]
    pub fn from_seed_for_vectors(seed: [u8; 32]) -> Self {
        Self {
            signing: SigningKey::from_bytes(&seed),
        }
    }

    /// The 32-byte ed25519 public key, unpadded base64url.
    pub fn public_key(&self) -> String {
        crate::b64::encode(self.signing.verifying_key().as_bytes())
    }

    /// Human-comparable fingerprint: first 8 bytes of SHA-256(public key),
    /// hex in four groups, e.g. `3f2a-91c0-77de-0b14`.
    pub fn device_fingerprint(&self) -> String {
        fingerprint_of(self.signing.verifying_key().as_bytes())
    }

    /// Signs a request's canonical string; returns the base64url signature.
    pub fn sign(&self, request: &SignedRequest) -> Result<String, Error> {
        let canonical = request.canonical()?;
        Ok(crate::b64::encode(
            &self.signing.sign(canonical.as_bytes()).to_bytes(),
        ))
    }

    /// Signs a canonical given as text, after checking it parses as one of
    /// the pinned request forms: the key is never a signing oracle for
    /// arbitrary bytes.
    pub fn sign_canonical(&self, canonical: &str) -> Result<String, Error> {
        let req = SignedRequest::parse(canonical)?;
        self.sign(&req)
    }
}

/// Fingerprint of a raw 32-byte public key (see [`DeviceIdentity::device_fingerprint`]).
pub fn fingerprint_of(public_key: &[u8]) -> String {
    let h = hex::encode(&Sha256::digest(public_key)[..8]);
    format!("{}-{}-{}-{}", &h[0..4], &h[4..8], &h[8..12], &h[12..16])
}

impl std::fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceIdentity")
            .field("public_key", &self.public_key())
            .field("private_key", &"<redacted>")
            .finish()
    }
}

fn checksum(seed: &[u8]) -> [u8; 8] {
    let mut h = Sha256::new();
    h.update(MAGIC);
    h.update(seed);
    let d = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

fn check_parent(path: &Path) -> Result<PathBuf, Error> {
    let dir = parent_dir(path);
    if !dir.is_dir() {
        return Err(Error::KeyFile {
            path: path.to_path_buf(),
            problem: KeyFileProblem::MissingDirectory,
        });
    }
    Ok(dir)
}

#[cfg(unix)]
fn check_mode(meta: &fs::Metadata) -> Result<(), KeyFileProblem> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyFileProblem::InsecurePermissions { mode });
    }
    Ok(())
}

#[cfg(not(unix))]
fn check_mode(_meta: &fs::Metadata) -> Result<(), KeyFileProblem> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn create_then_load_same_identity_0600() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("device.key");
        let a = DeviceIdentity::load_or_create(&p).unwrap();
        let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let b = DeviceIdentity::load_or_create(&p).unwrap();
        assert_eq!(a.public_key(), b.public_key());
        assert_eq!(crate::b64::decode(&a.public_key()).unwrap().len(), 32);
        assert_eq!(a.device_fingerprint().len(), 19);
        assert!(format!("{a:?}").contains("<redacted>"));
        // No temp files left behind.
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
    }

    #[test]
    fn refuses_group_or_world_readable() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("device.key");
        DeviceIdentity::create(&p).unwrap();
        for mode in [0o644, 0o640, 0o604, 0o660] {
            fs::set_permissions(&p, fs::Permissions::from_mode(mode)).unwrap();
            let e = DeviceIdentity::load_or_create(&p).unwrap_err();
            assert!(matches!(
                e,
                Error::KeyFile {
                    problem: KeyFileProblem::InsecurePermissions { .. },
                    ..
                }
            ));
            assert!(e.to_string().contains("device.key"), "{e}");
        }
    }

    #[test]
    fn refuses_corrupt_and_truncated() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("device.key");
        DeviceIdentity::create(&p).unwrap();
        let good = fs::read(&p).unwrap();
        for bad in [
            good[..47].to_vec(),
            {
                let mut b = good.clone();
                b[20] ^= 1;
                b
            },
            vec![],
            [good.clone(), vec![0]].concat(),
        ] {
            fs::write(&p, &bad).unwrap();
            fs::set_permissions(&p, fs::Permissions::from_mode(0o600)).unwrap();
            let e = DeviceIdentity::load_or_create(&p).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::KeyFile {
                        problem: KeyFileProblem::Corrupt,
                        ..
                    }
                ),
                "{e}"
            );
        }
    }

    #[test]
    fn refuses_missing_directory() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("nope/device.key");
        let e = DeviceIdentity::load_or_create(&p).unwrap_err();
        assert!(matches!(
            e,
            Error::KeyFile {
                problem: KeyFileProblem::MissingDirectory,
                ..
            }
        ));
        assert!(e.to_string().contains("nope"));
    }

    #[test]
    fn signs_only_valid_canonicals_and_verifies() {
        let id = DeviceIdentity::from_seed_for_vectors([1; 32]);
        assert!(id.sign_canonical("anything goes").is_err());
        let c = "devices|dev_1|1700000000";
        let sig = id.sign_canonical(c).unwrap();
        crate::canonical::verify(&id.public_key(), c, &sig, 1_700_000_100, 300).unwrap();
        let e =
            crate::canonical::verify(&id.public_key(), c, &sig, 1_700_000_301, 300).unwrap_err();
        assert!(matches!(
            e,
            Error::ClockSkew {
                skew_secs: -301,
                ..
            }
        ));
        let e = crate::canonical::verify(
            &id.public_key(),
            "devices|dev_2|1700000000",
            &sig,
            1_700_000_000,
            300,
        )
        .unwrap_err();
        assert!(matches!(e, Error::BadSignature));
    }

    #[test]
    fn racing_creators_all_end_with_the_key_on_disk() {
        // Issue 11 defect 5: two processes (here threads) starting on an
        // empty state dir must not replace each other's key, or one of them
        // signs with a key nobody else knows for the rest of its life.
        const THREADS: usize = 6;
        for _ in 0..60 {
            let d = tempfile::tempdir().unwrap();
            let p = d.path().join("device.key");
            let barrier = std::sync::Barrier::new(THREADS);
            let keys: Vec<String> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..THREADS)
                    .map(|_| {
                        s.spawn(|| {
                            barrier.wait();
                            DeviceIdentity::load_or_create(&p).unwrap().public_key()
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let on_disk = DeviceIdentity::load(&p).unwrap().public_key();
            assert!(keys.iter().all(|k| *k == on_disk), "{keys:?} vs {on_disk}");
            // No temp files left behind by the losers.
            assert_eq!(fs::read_dir(d.path()).unwrap().count(), 1);
        }
    }

    #[test]
    fn a_key_created_between_the_failed_load_and_the_check_is_loaded() {
        // Issue 11 defect 5 follow-up: the racing test above failed now and
        // then with `KeyFile { problem: Io }`: a creator that found no file,
        // then saw the winner's file appear before it checked, reported the
        // stale "cannot open" instead of loading the key that won.
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("device.key");
        let mut winner = None;
        let loaded = DeviceIdentity::load_or_create_with(&p, || {
            winner = Some(DeviceIdentity::create(&p).unwrap().public_key());
        })
        .unwrap();
        assert_eq!(Some(loaded.public_key()), winner);
    }

    #[test]
    fn create_never_replaces_an_existing_key() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("device.key");
        let first = DeviceIdentity::create(&p).unwrap();
        assert!(matches!(
            DeviceIdentity::create(&p),
            Err(Error::KeyFile {
                problem: KeyFileProblem::Io,
                ..
            })
        ));
        assert_eq!(
            DeviceIdentity::load(&p).unwrap().public_key(),
            first.public_key()
        );
    }
}
