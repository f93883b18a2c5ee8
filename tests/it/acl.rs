//! Ownership between accounts, ACL reads and canned ACLs with anonymous access.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{BucketCannedAcl, ObjectCannedAcl, Permission, Type};

use crate::common::*;
use crate::{assert_s3_err, both_backends};

both_backends!(
    other_account_denied,
    acls_show_owner_full_control,
    public_read_object_anonymous,
    public_read_bucket_listing_anonymous,
);

async fn other_account_denied(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let (c1, c2) = (s.client(), s.client2());
    create_bucket(&c1, "mine").await;
    put(&c1, "mine", "obj", b"private").await;

    assert_s3_err!(c2.get_object().bucket("mine").key("obj").send().await, 403, "AccessDenied");
    assert_eq!(failure(c2.head_object().bucket("mine").key("obj").send().await).status, 403);
    assert_s3_err!(
        c2.put_object().bucket("mine").key("obj").body(ByteStream::from_static(b"overwritten")).send().await,
        403,
        "AccessDenied"
    );
    assert_s3_err!(
        c2.put_object().bucket("mine").key("new").body(ByteStream::from_static(b"x")).send().await,
        403,
        "AccessDenied"
    );
    assert_s3_err!(c2.delete_object().bucket("mine").key("obj").send().await, 403, "AccessDenied");
    assert_s3_err!(c2.list_objects_v2().bucket("mine").send().await, 403, "AccessDenied");
    assert_s3_err!(c2.list_objects().bucket("mine").send().await, 403, "AccessDenied");
    assert_eq!(failure(c2.head_bucket().bucket("mine").send().await).status, 403);
    assert_s3_err!(c2.delete_bucket().bucket("mine").send().await, 403, "AccessDenied");
    assert_s3_err!(c2.get_bucket_acl().bucket("mine").send().await, 403, "AccessDenied");
    assert_s3_err!(c2.get_object_acl().bucket("mine").key("obj").send().await, 403, "AccessDenied");
    assert_s3_err!(
        c2.put_object_acl().bucket("mine").key("obj").acl(ObjectCannedAcl::PublicRead).send().await,
        403,
        "AccessDenied"
    );
    assert_s3_err!(c2.create_multipart_upload().bucket("mine").key("mp").send().await, 403, "AccessDenied");
    // A missing key in someone else's bucket is still AccessDenied, not NoSuchKey.
    assert_s3_err!(c2.get_object().bucket("mine").key("missing").send().await, 403, "AccessDenied");

    // Nothing changed.
    assert_eq!(get_bytes(&c1, "mine", "obj").await, b"private");
    let out = c1.list_objects_v2().bucket("mine").send().await.unwrap();
    assert_eq!(out.key_count(), Some(1));
}

async fn acls_show_owner_full_control(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "acl").await;
    put(&c, "acl", "obj", b"x").await;

    let out = c.get_bucket_acl().bucket("acl").send().await.unwrap();
    let owner = out.owner().expect("owner");
    assert_eq!(owner.id(), Some(ID1));
    assert_eq!(owner.display_name(), Some(NAME1));
    assert_eq!(out.grants().len(), 1, "{:?}", out.grants());
    let g = &out.grants()[0];
    assert_eq!(g.permission(), Some(&Permission::FullControl));
    let grantee = g.grantee().unwrap();
    assert_eq!(grantee.r#type(), &Type::CanonicalUser);
    assert_eq!(grantee.id(), Some(ID1));

    let out = c.get_object_acl().bucket("acl").key("obj").send().await.unwrap();
    assert_eq!(out.owner().and_then(|o| o.id()), Some(ID1));
    assert_eq!(out.grants().len(), 1, "{:?}", out.grants());
    assert_eq!(out.grants()[0].permission(), Some(&Permission::FullControl));
    assert_eq!(out.grants()[0].grantee().and_then(|g| g.id()), Some(ID1));

    // public-read adds an AllUsers READ grant.
    c.put_object_acl().bucket("acl").key("obj").acl(ObjectCannedAcl::PublicRead).send().await.unwrap();
    let out = c.get_object_acl().bucket("acl").key("obj").send().await.unwrap();
    assert_eq!(out.grants().len(), 2, "{:?}", out.grants());
    let all_users = out.grants().iter().find(|g| g.grantee().and_then(|g| g.uri()).is_some()).expect("a group grant");
    assert_eq!(all_users.grantee().and_then(|g| g.uri()), Some("http://acs.amazonaws.com/groups/global/AllUsers"));
    assert_eq!(all_users.permission(), Some(&Permission::Read));

    assert_s3_err!(c.get_object_acl().bucket("acl").key("missing").send().await, 404, "NoSuchKey");
}

async fn public_read_object_anonymous(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    create_bucket(&c, "pub").await;
    let body = data(20_000, 6);
    c.put_object()
        .bucket("pub")
        .key("open")
        .acl(ObjectCannedAcl::PublicRead)
        .content_type("text/plain")
        .body(ByteStream::from(body.clone()))
        .send()
        .await
        .unwrap();
    put(&c, "pub", "closed", b"secret").await;
    let h = http();

    let resp = h.get(s.url("/pub/open")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "text/plain");
    assert_eq!(resp.headers()["etag"].to_str().unwrap(), quoted_md5(&body));
    assert!(resp.bytes().await.unwrap().as_ref() == body.as_slice());
    let resp = h.head(s.url("/pub/open")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);

    let resp = h.get(s.url("/pub/closed")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let text = resp.text().await.unwrap();
    assert_eq!(xml_tag(&text, "Code").as_deref(), Some("AccessDenied"), "{text}");

    // Anonymous writes and listings of a private bucket are refused.
    let resp = h.put(s.url("/pub/anon")).body("x").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let resp = h.get(s.url("/pub")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let resp = h.delete(s.url("/pub/open")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(get_bytes(&c, "pub", "open").await, body);

    // Back to private: anonymous GET is denied again.
    c.put_object_acl().bucket("pub").key("open").acl(ObjectCannedAcl::Private).send().await.unwrap();
    let resp = h.get(s.url("/pub/open")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let text = resp.text().await.unwrap();
    assert_eq!(xml_tag(&text, "Code").as_deref(), Some("AccessDenied"));

    // Account 2 can read a public-read object of account 1.
    c.put_object_acl().bucket("pub").key("open").acl(ObjectCannedAcl::PublicRead).send().await.unwrap();
    assert_eq!(get_bytes(&s.client2(), "pub", "open").await, body);
}

async fn public_read_bucket_listing_anonymous(backend: &'static str) {
    let s = TestServer::start(backend).await;
    let c = s.client();
    c.create_bucket().bucket("listable").acl(BucketCannedAcl::PublicRead).send().await.unwrap();
    put(&c, "listable", "a", b"1").await;
    let h = http();
    let resp = h.get(s.url("/listable?list-type=2")).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    assert!(text.contains("<Key>a</Key>"), "{text}");
    // Listing rights do not grant object writes.
    let resp = h.put(s.url("/listable/b")).body("x").send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    let out = c.get_bucket_acl().bucket("listable").send().await.unwrap();
    assert!(
        out.grants().iter().any(|g| g.permission() == Some(&Permission::Read)
            && g.grantee().and_then(|g| g.uri()) == Some("http://acs.amazonaws.com/groups/global/AllUsers")),
        "{:?}",
        out.grants()
    );
}
