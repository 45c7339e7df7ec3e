//! Pages: how every list is read.

use serde::Serialize;

/// Largest page a list returns.
pub const MAX_PAGE: u32 = 1000;
/// Page size when none is asked for.
pub const DEFAULT_PAGE: u32 = 100;

/// Which page of a list: at most `limit` items after the item whose cursor is `after`, in
/// the order the items were stored (oldest first), or the reverse with `newest_first`.
///
/// The cursor is the position of the last item of the previous page. Items stored while a
/// client pages never shift a page: oldest first, they come after the last page; newest first,
/// they stand before the first one (a client wanting them starts again from the top).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u32,
    pub after: Option<i64>,
    pub newest_first: bool,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self { limit: DEFAULT_PAGE, after: None, newest_first: false }
    }
}

/// One page of a list, in the order asked.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Builds a page from `(seq, item)` rows fetched with `LIMIT limit + 1`.
pub(crate) fn page_of<T>(mut rows: Vec<(i64, T)>, page: &PageRequest) -> Page<T> {
    let limit = page.limit as usize;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(seq, _)| seq.to_string())
    } else {
        None
    };
    Page { items: rows.into_iter().map(|(_, item)| item).collect(), next_cursor }
}

/// Every item of a paged list, fetched `MAX_PAGE` at a time (for commands and checks that
/// need the whole list; the API serves pages).
pub fn all_pages<T>(
    mut fetch: impl FnMut(&PageRequest) -> Result<Page<T>, crate::StoreError>,
) -> Result<Vec<T>, crate::StoreError> {
    let mut items = Vec::new();
    let mut page = PageRequest { limit: MAX_PAGE, after: None, newest_first: false };
    loop {
        let p = fetch(&page)?;
        items.extend(p.items);
        match p.next_cursor.and_then(|c| c.parse().ok()) {
            Some(after) => page.after = Some(after),
            None => return Ok(items),
        }
    }
}
