//! ACL handlers. The owner always has FULL_CONTROL; canned ACLs add the AllUsers grants they
//! imply; explicit grants from an AccessControlPolicy are stored and rendered back.

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result};

use super::S3Api;
use super::util;
use crate::store::types::{Acl, Grant as StoredGrant};

fn grant_user(id: &str, display: Option<String>, perm: &str) -> Grant {
    Grant {
        grantee: Some(Grantee {
            display_name: display,
            email_address: None,
            id: Some(id.to_owned()),
            type_: Type::from_static(Type::CANONICAL_USER),
            uri: None,
        }),
        permission: Some(Permission::from(perm.to_owned())),
    }
}

fn grant_group(uri: &str, perm: &str) -> Grant {
    Grant {
        grantee: Some(Grantee {
            display_name: None,
            email_address: None,
            id: None,
            type_: Type::from_static(Type::GROUP),
            uri: Some(uri.to_owned()),
        }),
        permission: Some(Permission::from(perm.to_owned())),
    }
}

fn render(api: &S3Api, owner_id: &str, acl: &Acl) -> (Owner, Vec<Grant>) {
    let o = api.owner(owner_id);
    let mut grants = vec![grant_user(owner_id, o.display_name.clone(), "FULL_CONTROL")];
    const AUTH_USERS: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
    match acl.canned.as_str() {
        "public-read" => grants.push(grant_group(Acl::ALL_USERS, "READ")),
        "public-read-write" => {
            grants.push(grant_group(Acl::ALL_USERS, "READ"));
            grants.push(grant_group(Acl::ALL_USERS, "WRITE"));
        }
        "authenticated-read" => grants.push(grant_group(AUTH_USERS, "READ")),
        _ => {}
    }
    for g in &acl.grants {
        if g.grantee_type == "Group" {
            grants.push(grant_group(&g.uri, &g.permission));
        } else if g.id != owner_id {
            grants.push(grant_user(&g.id, None, &g.permission));
        }
    }
    (o, grants)
}

/// An ACL from a canned header or an AccessControlPolicy body.
fn acl_from(canned: Option<&str>, policy: Option<AccessControlPolicy>) -> S3Result<Acl> {
    if let Some(policy) = policy {
        let grants = policy
            .grants
            .unwrap_or_default()
            .into_iter()
            .filter_map(|g| {
                let grantee = g.grantee?;
                Some(StoredGrant {
                    grantee_type: if grantee.uri.is_some() { "Group".into() } else { "CanonicalUser".into() },
                    id: grantee.id.unwrap_or_default(),
                    uri: grantee.uri.unwrap_or_default(),
                    permission: g.permission.map(|p| p.as_str().to_owned()).unwrap_or_default(),
                })
            })
            .collect();
        return Ok(Acl { canned: String::new(), grants });
    }
    util::canned_acl(canned)
}

pub async fn get_bucket_acl(
    api: &S3Api,
    req: S3Request<GetBucketAclInput>,
) -> S3Result<S3Response<GetBucketAclOutput>> {
    let b = api.store.get_bucket(&req.input.bucket)?;
    let (owner, grants) = render(api, &b.owner, &b.acl);
    Ok(S3Response::new(GetBucketAclOutput { owner: Some(owner), grants: Some(grants) }))
}

pub async fn put_bucket_acl(
    api: &S3Api,
    req: S3Request<PutBucketAclInput>,
) -> S3Result<S3Response<PutBucketAclOutput>> {
    let i = req.input;
    let acl = acl_from(i.acl.as_ref().map(|a| a.as_str()), i.access_control_policy)?;
    api.store.set_bucket_acl(&i.bucket, acl).await?;
    Ok(S3Response::new(PutBucketAclOutput::default()))
}

pub async fn get_object_acl(
    api: &S3Api,
    req: S3Request<GetObjectAclInput>,
) -> S3Result<S3Response<GetObjectAclOutput>> {
    let rec = api.store.head_object(&req.input.bucket, &req.input.key)?;
    let (owner, grants) = render(api, &rec.owner, &rec.acl);
    Ok(S3Response::new(GetObjectAclOutput { owner: Some(owner), grants: Some(grants), ..Default::default() }))
}

pub async fn put_object_acl(
    api: &S3Api,
    req: S3Request<PutObjectAclInput>,
) -> S3Result<S3Response<PutObjectAclOutput>> {
    let i = req.input;
    let acl = acl_from(i.acl.as_ref().map(|a| a.as_str()), i.access_control_policy)?;
    api.store.set_object_acl(&i.bucket, &i.key, acl).await?;
    Ok(S3Response::new(PutObjectAclOutput::default()))
}
