//! ListObjects v1 and v2: prefixes, delimiters, paging, encoding, owners.

use aws_sdk_s3::Client;
use aws_sdk_s3::types::EncodingType;
use futures::StreamExt;

use crate::common::*;
use crate::{assert_s3_err, both_backends};

both_backends!(
    list_prefix_and_delimiter,
    list_v2_paging_2500,
    list_v1_paging_2500,
    list_paging_over_common_prefixes,
    list_encoding_type_url,
    list_v2_fetch_owner,
    list_bad_arguments,
);

pub async fn put_many(c: &Client, bucket: &str, keys: &[String]) {
    futures::stream::iter(keys.iter().map(|k| {
        let c = c.clone();
        async move {
            c.put_object()
                .bucket(bucket)
                .key(k)
                .body(aws_sdk_s3::primitives::ByteStream::from(k.clone().into_bytes()))
                .send()
                .await
                .unwrap_or_else(|e| panic!("put {k}: {e:?}"));
        }
    }))
    .buffer_unordered(16)
    .collect::<Vec<()>>()
    .await;
}

fn keys_of(contents: &[aws_sdk_s3::types::Object]) -> Vec<String> {
    contents.iter().filter_map(|o| o.key().map(str::to_owned)).collect()
}

fn prefixes_of(cps: &[aws_sdk_s3::types::CommonPrefix]) -> Vec<String> {
    cps.iter().filter_map(|p| p.prefix().map(str::to_owned)).collect()
}

async fn list_prefix_and_delimiter(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "tree").await;
    let keys: Vec<String> = ["a/1", "a/2", "a/b/3", "b/1", "c", "d/e/f", "dz"].iter().map(|s| s.to_string()).collect();
    put_many(&c, "tree", &keys).await;

    // v2
    let out = c.list_objects_v2().bucket("tree").send().await.unwrap();
    assert_eq!(keys_of(out.contents()), keys);
    assert_eq!(out.key_count(), Some(7));
    assert_eq!(out.is_truncated(), Some(false));
    let first = &out.contents()[0];
    assert_eq!(first.size(), Some(3));
    assert_eq!(first.e_tag(), Some(quoted_md5(b"a/1").as_str()));
    assert!(first.last_modified().is_some());
    assert_eq!(first.storage_class().map(|s| s.as_str()), Some("STANDARD"));

    let out = c.list_objects_v2().bucket("tree").delimiter("/").send().await.unwrap();
    assert_eq!(keys_of(out.contents()), ["c", "dz"]);
    assert_eq!(prefixes_of(out.common_prefixes()), ["a/", "b/", "d/"]);
    assert_eq!(out.key_count(), Some(5));
    assert_eq!(out.delimiter(), Some("/"));

    let out = c.list_objects_v2().bucket("tree").prefix("a/").delimiter("/").send().await.unwrap();
    assert_eq!(keys_of(out.contents()), ["a/1", "a/2"]);
    assert_eq!(prefixes_of(out.common_prefixes()), ["a/b/"]);
    assert_eq!(out.prefix(), Some("a/"));

    let out = c.list_objects_v2().bucket("tree").prefix("d").send().await.unwrap();
    assert_eq!(keys_of(out.contents()), ["d/e/f", "dz"]);

    let out = c.list_objects_v2().bucket("tree").prefix("zzz").send().await.unwrap();
    assert!(out.contents().is_empty());
    assert_eq!(out.key_count(), Some(0));

    // v1
    let out = c.list_objects().bucket("tree").delimiter("/").send().await.unwrap();
    assert_eq!(keys_of(out.contents()), ["c", "dz"]);
    assert_eq!(prefixes_of(out.common_prefixes()), ["a/", "b/", "d/"]);
    assert_eq!(out.is_truncated(), Some(false));
    assert_eq!(out.next_marker(), None);

    let out = c.list_objects().bucket("tree").prefix("a/").delimiter("/").send().await.unwrap();
    assert_eq!(keys_of(out.contents()), ["a/1", "a/2"]);
    assert_eq!(prefixes_of(out.common_prefixes()), ["a/b/"]);

    // A folder marker object equal to the prefix is listed as an object.
    put(&c, "tree", "a/", b"").await;
    let out = c.list_objects_v2().bucket("tree").prefix("a/").delimiter("/").send().await.unwrap();
    assert_eq!(keys_of(out.contents()), ["a/", "a/1", "a/2"]);
    assert_eq!(prefixes_of(out.common_prefixes()), ["a/b/"]);
    let out = c.list_objects_v2().bucket("tree").delimiter("/").send().await.unwrap();
    assert_eq!(prefixes_of(out.common_prefixes()), ["a/", "b/", "d/"], "the marker rolls into its prefix");
    c.delete_object().bucket("tree").key("a/").send().await.unwrap();

    // A delimiter other than "/".
    let out = c.list_objects_v2().bucket("tree").delimiter("e").send().await.unwrap();
    assert_eq!(prefixes_of(out.common_prefixes()), ["d/e"]);
}

fn many_keys() -> Vec<String> {
    (0..2500).map(|i| format!("key-{i:05}")).collect()
}

async fn list_v2_paging_2500(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "big").await;
    let keys = many_keys();
    put_many(&c, "big", &keys).await;

    // Default page size 1000 with continuation tokens.
    let mut got = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let out = c.list_objects_v2().bucket("big").set_continuation_token(token.clone()).send().await.unwrap();
        assert_eq!(out.max_keys(), Some(1000));
        assert_eq!(out.continuation_token(), token.as_deref());
        let page = keys_of(out.contents());
        assert_eq!(out.key_count(), Some(page.len() as i32));
        pages.push(page.len());
        got.extend(page);
        if out.is_truncated() == Some(true) {
            token =
                Some(out.next_continuation_token().expect("a truncated page has a NextContinuationToken").to_owned());
        } else {
            assert_eq!(out.next_continuation_token(), None);
            break;
        }
    }
    assert_eq!(pages, [1000, 1000, 500]);
    assert_eq!(got, keys);

    // max-keys above 1000 is capped.
    let out = c.list_objects_v2().bucket("big").max_keys(5000).send().await.unwrap();
    assert_eq!(out.contents().len(), 1000);
    assert_eq!(out.is_truncated(), Some(true));

    // Small pages with start-after.
    let out = c.list_objects_v2().bucket("big").start_after("key-01234").max_keys(3).send().await.unwrap();
    assert_eq!(keys_of(out.contents()), ["key-01235", "key-01236", "key-01237"]);
    assert_eq!(out.start_after(), Some("key-01234"));
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(out.max_keys(), Some(3));

    // Small pages all the way through a prefix.
    let mut got = Vec::new();
    let mut token: Option<String> = None;
    let mut n = 0;
    loop {
        let out = c
            .list_objects_v2()
            .bucket("big")
            .prefix("key-024")
            .max_keys(7)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        n += 1;
        got.extend(keys_of(out.contents()));
        match out.next_continuation_token() {
            Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => break,
        }
    }
    let want: Vec<String> = keys.iter().filter(|k| k.starts_with("key-024")).cloned().collect();
    assert_eq!(got, want);
    assert_eq!(n, 15, "100 keys in pages of 7");

    // A continuation token wins over start-after.
    let first = c.list_objects_v2().bucket("big").max_keys(2).send().await.unwrap();
    let out = c
        .list_objects_v2()
        .bucket("big")
        .max_keys(2)
        .start_after("key-02000")
        .continuation_token(first.next_continuation_token().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(keys_of(out.contents()), ["key-00002", "key-00003"]);

    // A start-after past the end.
    let out = c.list_objects_v2().bucket("big").start_after("zzz").send().await.unwrap();
    assert!(out.contents().is_empty());
    assert_eq!(out.is_truncated(), Some(false));

    // max-keys 0 lists nothing.
    let out = c.list_objects_v2().bucket("big").max_keys(0).send().await.unwrap();
    assert!(out.contents().is_empty());
}

async fn list_v1_paging_2500(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "big1").await;
    let keys = many_keys();
    put_many(&c, "big1", &keys).await;

    // Without a delimiter there is no NextMarker: the client continues from the last key.
    let mut got: Vec<String> = Vec::new();
    let mut marker: Option<String> = None;
    let mut pages = Vec::new();
    loop {
        let out = c.list_objects().bucket("big1").set_marker(marker.clone()).send().await.unwrap();
        assert_eq!(out.max_keys(), Some(1000));
        assert_eq!(out.marker().unwrap_or(""), marker.as_deref().unwrap_or(""));
        assert_eq!(out.next_marker(), None);
        let page = keys_of(out.contents());
        assert!(out.contents().iter().all(|o| o.owner().is_some()), "v1 lists owners");
        pages.push(page.len());
        got.extend(page);
        if out.is_truncated() == Some(true) {
            marker = got.last().cloned();
        } else {
            break;
        }
    }
    assert_eq!(pages, [1000, 1000, 500]);
    assert_eq!(got, keys);

    let out = c.list_objects().bucket("big1").max_keys(2000).send().await.unwrap();
    assert_eq!(out.contents().len(), 1000, "max-keys is capped at 1000");

    let out = c.list_objects().bucket("big1").marker("key-00099").max_keys(2).send().await.unwrap();
    assert_eq!(keys_of(out.contents()), ["key-00100", "key-00101"]);
    assert_eq!(out.is_truncated(), Some(true));

    // With a delimiter, a truncated page carries NextMarker.
    let out = c.list_objects().bucket("big1").delimiter("/").max_keys(10).send().await.unwrap();
    assert_eq!(out.contents().len(), 10);
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(out.next_marker(), Some("key-00009"));
    let out = c.list_objects().bucket("big1").delimiter("/").marker("key-02495").max_keys(10).send().await.unwrap();
    assert_eq!(keys_of(out.contents()).len(), 4);
    assert_eq!(out.is_truncated(), Some(false));
    assert_eq!(out.next_marker(), None);
}

async fn list_paging_over_common_prefixes(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "dirs").await;
    let mut keys = Vec::new();
    for d in 0..25 {
        for f in 0..3 {
            keys.push(format!("dir{d:02}/f{f}"));
        }
    }
    keys.push("file".to_string());
    put_many(&c, "dirs", &keys).await;

    // v2: common prefixes count toward max-keys and are not repeated across pages.
    let mut prefixes = Vec::new();
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = 0;
    loop {
        let out = c
            .list_objects_v2()
            .bucket("dirs")
            .delimiter("/")
            .max_keys(10)
            .set_continuation_token(token.clone())
            .send()
            .await
            .unwrap();
        pages += 1;
        let page_p = prefixes_of(out.common_prefixes());
        let page_o = keys_of(out.contents());
        assert!(page_p.len() + page_o.len() <= 10);
        assert_eq!(out.key_count(), Some((page_p.len() + page_o.len()) as i32));
        prefixes.extend(page_p);
        objects.extend(page_o);
        match out.next_continuation_token() {
            Some(t) if out.is_truncated() == Some(true) => token = Some(t.to_owned()),
            _ => break,
        }
    }
    let want: Vec<String> = (0..25).map(|d| format!("dir{d:02}/")).collect();
    assert_eq!(prefixes, want);
    assert_eq!(objects, ["file"]);
    assert_eq!(pages, 3);

    // v1: NextMarker is the last common prefix when the page ends on one.
    let out = c.list_objects().bucket("dirs").delimiter("/").max_keys(10).send().await.unwrap();
    assert_eq!(out.is_truncated(), Some(true));
    assert_eq!(out.next_marker(), Some("dir09/"));
    let out = c.list_objects().bucket("dirs").delimiter("/").max_keys(10).marker("dir09/").send().await.unwrap();
    assert_eq!(prefixes_of(out.common_prefixes())[0], "dir10/");
}

/// `application/x-www-form-urlencoded` decoding, which is what SDKs apply to url-encoded keys.
fn unquote_plus(s: &str) -> String {
    let s = s.replace('+', " ");
    percent_encoding::percent_decode_str(&s).decode_utf8().expect("utf-8").into_owned()
}

fn assert_encoded(raw: &str) {
    assert!(raw.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.~/%+".contains(&b)), "not url-encoded: {raw:?}");
}

async fn list_encoding_type_url(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "enc").await;
    let keys: Vec<String> =
        ["dir one/file two", "dir one/x+y", "plain", "per%cent", "ünï/кл ч", "ünïcode", "amp&lt<gt>"]
            .iter()
            .map(|s| s.to_string())
            .collect();
    put_many(&c, "enc", &keys).await;
    let mut sorted = keys.clone();
    sorted.sort();

    // Without encoding the keys come back as they are.
    let out = c.list_objects_v2().bucket("enc").send().await.unwrap();
    assert_eq!(keys_of(out.contents()), sorted);

    let out = c.list_objects_v2().bucket("enc").encoding_type(EncodingType::Url).send().await.unwrap();
    assert_eq!(out.encoding_type(), Some(&EncodingType::Url));
    let raw = keys_of(out.contents());
    raw.iter().for_each(|k| assert_encoded(k));
    let decoded: Vec<String> = raw.iter().map(|k| unquote_plus(k)).collect();
    assert_eq!(decoded, sorted);

    // Prefix, delimiter, common prefixes and start-after are encoded too.
    let out = c.list_objects_v2().bucket("enc").encoding_type(EncodingType::Url).delimiter("/").send().await.unwrap();
    let cps = prefixes_of(out.common_prefixes());
    cps.iter().for_each(|k| assert_encoded(k));
    let cps: Vec<String> = cps.iter().map(|p| unquote_plus(p)).collect();
    assert_eq!(cps, ["dir one/", "ünï/"]);

    let out = c
        .list_objects_v2()
        .bucket("enc")
        .encoding_type(EncodingType::Url)
        .prefix("dir one/")
        .start_after("dir one/file two")
        .send()
        .await
        .unwrap();
    let raw = keys_of(out.contents());
    assert_eq!(raw.len(), 1);
    assert_encoded(&raw[0]);
    assert_eq!(unquote_plus(&raw[0]), "dir one/x+y");
    let p = out.prefix().unwrap();
    assert_encoded(p);
    assert_eq!(unquote_plus(p), "dir one/");

    // v1 with a marker and NextMarker.
    let out = c
        .list_objects()
        .bucket("enc")
        .encoding_type(EncodingType::Url)
        .delimiter("/")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    assert_eq!(out.is_truncated(), Some(true));
    let nm = out.next_marker().expect("NextMarker with a delimiter");
    assert_encoded(nm);
    assert_eq!(unquote_plus(nm), "amp&lt<gt>");
    let out = c
        .list_objects()
        .bucket("enc")
        .encoding_type(EncodingType::Url)
        .delimiter("/")
        .marker("amp&lt<gt>")
        .max_keys(1)
        .send()
        .await
        .unwrap();
    let cps: Vec<String> = prefixes_of(out.common_prefixes()).iter().map(|p| unquote_plus(p)).collect();
    assert_eq!(cps, ["dir one/"]);

    // Every key round-trips through GET with its exact name.
    for k in &keys {
        assert_eq!(get_bytes(&c, "enc", k).await, k.as_bytes());
    }
}

async fn list_v2_fetch_owner(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "own").await;
    put(&c, "own", "k", b"v").await;
    let out = c.list_objects_v2().bucket("own").send().await.unwrap();
    assert!(out.contents()[0].owner().is_none(), "no Owner without fetch-owner");
    let out = c.list_objects_v2().bucket("own").fetch_owner(true).send().await.unwrap();
    let o = out.contents()[0].owner().expect("Owner with fetch-owner");
    assert_eq!(o.id(), Some(ID1));
    assert_eq!(o.display_name(), Some(NAME1));
    // v1 always lists the owner.
    let out = c.list_objects().bucket("own").send().await.unwrap();
    assert_eq!(out.contents()[0].owner().and_then(|o| o.id()), Some(ID1));
}

async fn list_bad_arguments(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "args").await;
    assert_s3_err!(
        c.list_objects_v2().bucket("args").continuation_token("!!not-a-token!!").send().await,
        400,
        "InvalidArgument"
    );
    assert_s3_err!(c.list_objects_v2().bucket("args").max_keys(-1).send().await, 400, "InvalidArgument");
    assert_s3_err!(
        c.list_objects_v2().bucket("args").encoding_type(EncodingType::from("base64")).send().await,
        400,
        "InvalidArgument"
    );
}
