//! Value encoding: MessagePack with field names, so records can gain
//! fields (with serde defaults) without breaking stored data.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StoreError;

pub(crate) fn encode<T: Serialize + ?Sized>(
    what: &'static str,
    v: &T,
) -> Result<Vec<u8>, StoreError> {
    rmp_serde::to_vec_named(v).map_err(|e| StoreError::Codec {
        what,
        detail: e.to_string(),
    })
}

pub(crate) fn decode<T: DeserializeOwned>(what: &'static str, b: &[u8]) -> Result<T, StoreError> {
    rmp_serde::from_slice(b).map_err(|e| StoreError::Codec {
        what,
        detail: e.to_string(),
    })
}
