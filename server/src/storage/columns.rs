//! How the trait's values fit the SQL columns both backends store them in
//! (`BIGINT` / `INTEGER`: signed 64-bit), and what a pull page is made of.
//! One home, so the backends cannot disagree on a bound.

use super::{BlobMeta, PullPage, StorageError};

/// `v` as a signed column value; [`StorageError::OutOfRange`] naming `what`
/// when it does not fit.
pub(crate) fn to_i64(v: u64, what: &'static str) -> Result<i64, StorageError> {
    i64::try_from(v).map_err(|_| StorageError::OutOfRange(what))
}

/// The column value of a seq to look up; `None` for one no push can have
/// stored (push refuses seqs above `i64::MAX`), so the lookup finds nothing.
pub(crate) fn stored_seq(seq: u64) -> Option<i64> {
    i64::try_from(seq).ok()
}

/// The exclusive upper seq bound of a prune: every stored seq is at most
/// `i64::MAX`, so a larger checkpoint prunes them all.
pub(crate) fn prune_bound(checkpoint_seq: u64) -> i64 {
    i64::try_from(checkpoint_seq).unwrap_or(i64::MAX)
}

/// A stored license key hash; anything but 32 bytes is corruption.
pub(crate) fn key_hash(stored: Vec<u8>) -> Result<[u8; 32], StorageError> {
    stored
        .try_into()
        .map_err(|_| StorageError::Backend("corrupt license key hash".into()))
}

/// The row count to ask for a page of at most `limit` items: one more,
/// which tells whether more exist.
pub(crate) fn page_rows(limit: u32) -> i64 {
    i64::from(limit) + 1
}

/// The page of at most `limit` items from the rows a [`page_rows`] query
/// returned.
pub(crate) fn page(mut items: Vec<BlobMeta>, limit: u32) -> PullPage {
    let has_more = items.len() > limit as usize;
    items.truncate(limit as usize);
    PullPage { items, has_more }
}

/// A stored device cap; a value outside `u32` is corruption (the setter
/// only writes `u32`s).
pub(crate) fn max_devices(stored: Option<i64>) -> Result<Option<u32>, StorageError> {
    stored
        .map(|v| u32::try_from(v).map_err(|_| StorageError::Backend("corrupt device cap".into())))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(position: i64) -> BlobMeta {
        BlobMeta {
            position,
            device_id: "d".into(),
            seq: 1,
            sha256: String::new(),
            size: 0,
            created_at: 0,
        }
    }

    #[test]
    fn bounds() {
        assert_eq!(to_i64(i64::MAX as u64, "seq").unwrap(), i64::MAX);
        assert!(matches!(
            to_i64(i64::MAX as u64 + 1, "seq"),
            Err(StorageError::OutOfRange("seq"))
        ));
        assert_eq!(stored_seq(7), Some(7));
        assert_eq!(stored_seq(u64::MAX), None);
        assert_eq!(prune_bound(9), 9);
        assert_eq!(prune_bound(u64::MAX), i64::MAX);
        assert_eq!(key_hash(vec![4; 32]).unwrap(), [4; 32]);
        assert!(key_hash(vec![4; 31]).is_err());
    }

    #[test]
    fn a_page_holds_at_most_limit_items_and_knows_if_more_exist() {
        assert_eq!(page_rows(2), 3);
        let p = page((1..=3).map(meta).collect(), 2);
        assert_eq!((p.items.len(), p.has_more), (2, true));
        assert_eq!(p.items[1].position, 2);
        let p = page((1..=2).map(meta).collect(), 2);
        assert_eq!((p.items.len(), p.has_more), (2, false));
        let p = page(vec![meta(1)], 0);
        assert_eq!((p.items.len(), p.has_more), (0, true));
    }
}
