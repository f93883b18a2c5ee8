use super::*;

fn segments(root: &Path) -> Vec<u64> {
    let mut v: Vec<u64> = fs::read_dir(root.join("log"))
        .unwrap()
        .filter_map(|e| parse_segment_name(&e.unwrap().file_name().to_string_lossy()))
        .collect();
    v.sort_unstable();
    v
}

#[test]
fn ids_round_trip_and_reject_anything_else() {
    let id = LogId { seg: 3, off: 4096, len: 17 };
    assert_eq!(id.to_string(), "log.3.4096.17");
    assert_eq!(LogId::parse("log.3.4096.17"), Some(id));
    for bad in ["log.3.4096", "log.3.4096.17.1", "log.3..17", "log.-3.1.1", "log.a.1.1", "3.4096.17", ""] {
        assert_eq!(LogId::parse(bad), None, "{bad:?}");
    }
    assert_eq!(parse_segment_name(&segment_name(0xab)), Some(0xab));
    assert_eq!(parse_segment_name("00ab.log"), None);
}

#[tokio::test]
async fn appended_bodies_read_back_whole_and_in_ranges() {
    let dir = tempfile::tempdir().unwrap();
    let log = BodyLog::open(dir.path()).unwrap();
    let bodies: Vec<Bytes> = (0..50u8).map(|i| Bytes::from(vec![i; 100 + usize::from(i)])).collect();
    let ids = futures::future::join_all(bodies.iter().map(|b| log.append(b.clone()))).await;
    for (id, body) in ids.iter().zip(&bodies) {
        let id = LogId::parse(id.as_ref().unwrap()).unwrap();
        assert_eq!(log.read(&id, 0..u64::MAX).await.unwrap(), body);
        assert_eq!(log.read(&id, 10..20).await.unwrap(), body.slice(10..20));
        assert!(log.read(&id, 5000..6000).await.unwrap().is_empty());
    }
}

#[tokio::test]
async fn dead_segments_are_deleted_and_live_ones_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let body = Bytes::from(vec![7u8; 4096]);
    let per_seg = SEGMENT_MAX / 4096;
    let (first, second) = {
        let log = BodyLog::open(dir.path()).unwrap();
        let mut ids = Vec::new();
        for _ in 0..per_seg + 1 {
            ids.push(LogId::parse(&log.append(body.clone()).await.unwrap()).unwrap());
        }
        let (first, second) = (ids[0], ids[per_seg as usize]);
        assert_eq!(second.seg, first.seg + 1, "the segment is sealed when full");
        // Freeing every body but one keeps segment 0; freeing the last deletes it.
        for id in &ids[1..per_seg as usize] {
            log.free(id);
        }
        let _ = log.append(Bytes::from_static(b"flush the delete job")).await.unwrap();
        assert_eq!(segments(dir.path()), vec![first.seg, second.seg]);
        log.free(&first);
        let _ = log.append(Bytes::from_static(b"again")).await.unwrap();
        assert_eq!(segments(dir.path()), vec![second.seg]);
        assert!(matches!(log.read(&first, 0..10).await, Err(StoreError::Io(e)) if e.kind() == ErrorKind::NotFound));
        (first, second)
    };
    // After a restart, appends go to a new segment; the sweep keeps what records name.
    let log = BodyLog::open(dir.path()).unwrap();
    let third = LogId::parse(&log.append(body.clone()).await.unwrap()).unwrap();
    assert!(third.seg > second.seg);
    assert_eq!(log.sweep(&HashSet::from([second.to_string(), first.to_string()])).unwrap(), (0, 1));
    assert_eq!(log.read(&second, 0..u64::MAX).await.unwrap(), body);
    // An unnamed old segment is swept; the current one is not.
    drop(log);
    let log = BodyLog::open(dir.path()).unwrap();
    assert_eq!(log.sweep(&HashSet::from([third.to_string()])).unwrap(), (1, 1));
    assert_eq!(segments(dir.path()), vec![third.seg]);
    // Once swept, freeing the last body of an old segment deletes it.
    log.free(&third);
    let fourth = LogId::parse(&log.append(Bytes::from_static(b"x")).await.unwrap()).unwrap();
    assert!(fourth.seg > third.seg);
    assert_eq!(segments(dir.path()), vec![fourth.seg]);
}

#[tokio::test]
async fn mostly_dead_old_segments_are_offered_for_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let bodies: Vec<Bytes> = (0..40u8).map(|i| Bytes::from(vec![i; 1000])).collect();
    let ids: Vec<LogId> = {
        let log = BodyLog::open(dir.path()).unwrap();
        let ids = futures::future::join_all(bodies.iter().map(|b| log.append(b.clone()))).await;
        ids.into_iter().map(|id| LogId::parse(&id.unwrap()).unwrap()).collect()
    };
    let log = BodyLog::open(dir.path()).unwrap();
    // 8 of 40 bodies live: under a quarter of the segment.
    let live: HashSet<String> = ids.iter().step_by(5).map(LogId::to_string).collect();
    assert_eq!(log.sweep(&live).unwrap(), (0, 1));
    let sparse = log.sparse(&live).unwrap();
    assert_eq!(sparse.len(), 1);
    let offered = &sparse[0];
    assert_eq!(offered.len(), live.len());
    assert!(offered.windows(2).all(|w| w[0].off < w[1].off), "in file order");
    let body_of: HashMap<LogId, &Bytes> = ids.iter().copied().zip(&bodies).collect();
    for (id, read) in offered.iter().zip(log.read_bodies(offered).unwrap()) {
        assert_eq!(&read, body_of[id]);
    }
    // 11 of 40 live is more than a quarter: left alone. Segments of this run are never offered.
    let more: HashSet<String> = ids.iter().take(11).map(LogId::to_string).collect();
    assert!(log.sparse(&more).unwrap().is_empty());
    let new = log.append(Bytes::from_static(b"this run")).await.unwrap();
    assert!(log.sparse(&HashSet::from([new])).unwrap().is_empty());
}
