//! One conformance suite run against both implementations.

use std::collections::{HashMap, HashSet};

use super::*;
use crate::store::StoreError;
use crate::store::types::{Acl, DataRef, ObjectAttrs};

fn bucket(name: &str) -> BucketRecord {
    BucketRecord { name: name.into(), owner: "o".into(), created: 1, location: String::new(), acl: Acl::default() }
}

fn object(etag: &str) -> ObjectRecord {
    ObjectRecord {
        size: 1,
        etag: etag.into(),
        last_modified: 1,
        owner: "o".into(),
        attrs: ObjectAttrs::default(),
        acl: Acl::default(),
        data: DataRef::File(format!("data-{etag}")),
        checksums: vec![],
    }
}

fn upload(id: &str) -> UploadRecord {
    UploadRecord {
        bucket: "b".into(),
        key: "k".into(),
        upload_id: id.into(),
        initiated: 1,
        owner: "o".into(),
        attrs: ObjectAttrs::default(),
        acl: Acl::default(),
        checksum_algorithm: None,
        checksum_type: None,
    }
}

fn part(n: u32) -> PartRecord {
    PartRecord { number: n, data: format!("p{n}"), size: 5, etag: format!("e{n}"), last_modified: 1, checksums: vec![] }
}

fn keys(m: &dyn MetaStore, bucket: &str, from: Bound<Vec<u8>>) -> Vec<String> {
    let mut out = Vec::new();
    m.scan_objects(bucket, from, &mut |k, _| {
        out.push(String::from_utf8_lossy(k).into_owned());
        Step::Continue
    })
    .unwrap();
    out
}

fn conformance(m: &dyn MetaStore) {
    assert!(m.insert_bucket(&bucket("b")).unwrap().is_none());
    assert!(m.insert_bucket(&bucket("b")).unwrap().is_some());
    m.insert_bucket(&bucket("b2")).unwrap();
    m.insert_bucket(&bucket("a")).unwrap();
    let names: Vec<_> = m.list_buckets().unwrap().into_iter().map(|b| b.name).collect();
    assert_eq!(names, ["a", "b", "b2"]);

    assert!(matches!(m.put_object("nope", "k", &object("1"), &PutCond::Any), Err(StoreError::NoSuchBucket)));
    assert!(m.put_object("b", "k", &object("1"), &PutCond::Any).unwrap().is_none());
    assert!(matches!(m.put_object("b", "k", &object("2"), &PutCond::Absent), Err(StoreError::PreconditionFailed)));
    assert!(matches!(
        m.put_object("b", "k", &object("2"), &PutCond::EtagIs("x".into())),
        Err(StoreError::PreconditionFailed)
    ));
    let old = m.put_object("b", "k", &object("2"), &PutCond::EtagIs("1".into())).unwrap();
    assert_eq!(old.unwrap().etag, "1");
    // Keys with NUL and the same prefix as another bucket stay in their bucket.
    m.put_object("b", "k\0z", &object("3"), &PutCond::Any).unwrap();
    m.put_object("b2", "k", &object("4"), &PutCond::Any).unwrap();
    m.put_object("a", "zzz", &object("5"), &PutCond::Any).unwrap();
    assert_eq!(keys(m, "b", Bound::Unbounded), ["k", "k\0z"]);
    assert_eq!(keys(m, "b", Bound::Excluded(b"k".to_vec())), ["k\0z"]);
    assert_eq!(keys(m, "b2", Bound::Unbounded), ["k"]);

    assert!(m.remove_bucket_if_empty("b2").unwrap().is_none());
    assert_eq!(m.delete_object("b2", "k").unwrap().unwrap().etag, "4");
    assert!(m.delete_object("b2", "k").unwrap().is_none());
    // An unfinished upload does not keep a bucket alive: it is aborted with it.
    let mut pending = upload("u9");
    pending.bucket = "b2".into();
    m.insert_upload(&pending).unwrap();
    m.put_part(&pending, &part(1)).unwrap();
    let aborted = m.remove_bucket_if_empty("b2").unwrap().expect("empty of objects");
    assert_eq!(aborted.len(), 1);
    assert!(m.get_upload("b2", "k", "u9").unwrap().is_none());
    assert!(m.get_bucket("b2").unwrap().is_none());

    // Multipart.
    let u = upload("u1");
    assert!(matches!(m.put_part(&u, &part(1)), Err(StoreError::NoSuchUpload)));
    m.insert_upload(&u).unwrap();
    m.put_part(&u, &part(2)).unwrap();
    m.put_part(&u, &part(1)).unwrap();
    assert_eq!(m.put_part(&u, &part(1)).unwrap().unwrap().number, 1);
    let listed: Vec<u32> = m.list_parts("u1", 0, 10).unwrap().iter().map(|p| p.number).collect();
    assert_eq!(listed, [1, 2]);
    assert_eq!(m.list_parts("u1", 1, 10).unwrap().len(), 1);
    assert_eq!(m.list_parts("u1", 0, 1).unwrap().len(), 1);
    let ids = m.referenced_data_ids().unwrap();
    assert!(ids.contains("p1") && ids.contains("data-2") && !ids.contains("data-1"));

    let mut uploads = Vec::new();
    m.scan_uploads("b", Bound::Unbounded, &mut |k, r| {
        uploads.push((String::from_utf8_lossy(k).into_owned(), r.upload_id));
        Step::Continue
    })
    .unwrap();
    assert_eq!(uploads, [("k".to_string(), "u1".to_string())]);

    let old = m.complete_upload(&u, &object("mp")).unwrap();
    assert_eq!(old.unwrap().etag, "2");
    assert!(m.get_upload("b", "k", "u1").unwrap().is_none());
    assert!(m.list_parts("u1", 0, 10).unwrap().is_empty());
    assert_eq!(m.completed_upload("u1").unwrap().unwrap().etag, "mp");
    assert!(matches!(m.complete_upload(&u, &object("mp")), Err(StoreError::NoSuchUpload)));

    let u2 = upload("u2");
    m.insert_upload(&u2).unwrap();
    m.put_part(&u2, &part(1)).unwrap();
    assert_eq!(m.abort_upload(&u2).unwrap().len(), 1);
    assert!(matches!(m.abort_upload(&u2), Err(StoreError::NoSuchUpload)));
    let (b, o, _) = m.stats().unwrap();
    assert_eq!((b, o), (2, 3));

    // Repointing data (log compaction): only a record naming a moved id changes.
    let before = m.referenced_data_ids().unwrap();
    let old = before.iter().find(|id| id.starts_with("data-")).unwrap().clone();
    let moves = HashMap::from([(old.clone(), "moved".to_string()), ("named-by-none".into(), "x".into())]);
    assert_eq!(m.replace_data_ids(&moves).unwrap(), HashSet::from([old.clone()]));
    let after = m.referenced_data_ids().unwrap();
    assert!(after.contains("moved") && !after.contains(&old) && !after.contains("x"), "{after:?}");
    assert_eq!(after.len(), before.len());
    assert!(m.replace_data_ids(&moves).unwrap().is_empty(), "already moved");
    m.flush().unwrap();
}

#[test]
fn mem_conformance() {
    conformance(&MemMeta::new());
}

#[test]
fn sled_conformance() {
    let dir = tempfile::tempdir().unwrap();
    conformance(&SledMeta::open(dir.path()).unwrap());
}

#[test]
fn sled_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let m = SledMeta::open(dir.path()).unwrap();
        m.insert_bucket(&bucket("b")).unwrap();
        m.put_object("b", "k", &object("1"), &PutCond::Any).unwrap();
        m.flush().unwrap();
    }
    let m = SledMeta::open(dir.path()).unwrap();
    assert_eq!(m.get_object("b", "k").unwrap().unwrap().etag, "1");
}

/// Racing conditional writes to one key: If-None-Match lets exactly one in, and an If-Match
/// chain loses no update (each success saw the ETag it replaced).
fn racing_conditional_puts(m: &dyn MetaStore) {
    m.insert_bucket(&bucket("b")).unwrap();
    let created = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for t in 0..8 {
            let created = &created;
            s.spawn(move || {
                if m.put_object("b", "once", &object(&format!("t{t}")), &PutCond::Absent).is_ok() {
                    created.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
            });
        }
    });
    assert_eq!(created.into_inner(), 1);

    m.put_object("b", "n", &object("0"), &PutCond::Any).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(move || {
                let mut done = 0;
                while done < 25 {
                    let cur: u32 = m.get_object("b", "n").unwrap().unwrap().etag.parse().unwrap();
                    let next = object(&(cur + 1).to_string());
                    match m.put_object("b", "n", &next, &PutCond::EtagIs(cur.to_string())) {
                        Ok(old) => {
                            assert_eq!(old.unwrap().etag, cur.to_string());
                            done += 1;
                        }
                        Err(StoreError::PreconditionFailed) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
            });
        }
    });
    assert_eq!(m.get_object("b", "n").unwrap().unwrap().etag, "100");
}

#[test]
fn mem_racing_conditional_puts() {
    racing_conditional_puts(&MemMeta::new());
}

#[test]
fn sled_racing_conditional_puts() {
    let dir = tempfile::tempdir().unwrap();
    racing_conditional_puts(&SledMeta::open(dir.path()).unwrap());
}
