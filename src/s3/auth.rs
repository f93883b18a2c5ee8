//! Secret lookup for s3s's signature checks. An unknown key is InvalidAccessKeyId, as AWS says
//! (s3s's SimpleAuth would answer NotSignedUp).

use std::sync::Arc;

use s3s::S3Result;
use s3s::auth::{S3Auth, SecretKey};

use super::Accounts;

pub struct Auth {
    accounts: Arc<Accounts>,
}

impl Auth {
    pub fn new(accounts: Arc<Accounts>) -> Self {
        Auth { accounts }
    }
}

#[async_trait::async_trait]
impl S3Auth for Auth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.accounts.secret(access_key) {
            Some(secret) => Ok(SecretKey::from(secret)),
            None => Err(s3s::s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}
