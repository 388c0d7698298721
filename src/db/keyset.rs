//! Keyset (cursor) pagination over an integer key, for any entity: a page is "the next
//! `limit` rows after key K in key order", so its cost does not depend on how deep it is or
//! how many rows exist. `OFFSET` is still applied when asked (bounded by the caller).

use sea_orm::{
    ColumnTrait, ConnectionTrait, DbErr, EntityTrait, Order, PartialModelTrait, QueryFilter,
    QueryOrder, QuerySelect, Select,
};

/// Which page to read.
#[derive(Debug, Clone, Copy)]
pub struct PageSpec {
    /// Only rows strictly after this key in `direction` (greater when ascending).
    pub after: Option<i64>,
    /// Rows to skip after the key bound; kept for offset-paging clients.
    pub offset: u64,
    pub limit: u64,
    pub direction: Direction,
}

/// The key order of a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ascending,
    Descending,
}

/// A page of rows, and the key to continue after when more rows follow.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<i64>,
}

/// `select` narrowed to one page in `key` order, with one row more than `limit` so the
/// caller knows whether a next page exists without counting.
///
/// The key is always bounded, even on the first page (`key >= i64::MIN`): the bound is
/// a tautology, but it makes every page an index range search in the query plan.
pub fn select_page<E: EntityTrait>(select: Select<E>, key: E::Column, spec: PageSpec) -> Select<E> {
    let (bounded, order) = match (spec.direction, spec.after) {
        (Direction::Ascending, Some(after)) => (select.filter(key.gt(after)), Order::Asc),
        (Direction::Ascending, None) => (select.filter(key.gte(i64::MIN)), Order::Asc),
        (Direction::Descending, Some(after)) => (select.filter(key.lt(after)), Order::Desc),
        (Direction::Descending, None) => (select.filter(key.lte(i64::MAX)), Order::Desc),
    };
    bounded
        .order_by(key, order)
        .limit(spec.limit + 1)
        .offset((spec.offset > 0).then_some(spec.offset))
}

/// Reads the page [`select_page`] describes, as `M`: the entity's model, or a partial model
/// of the columns a list shows (fewer columns read, decoded and dropped per row).
pub async fn fetch<E, M, C>(
    db: &C,
    select: Select<E>,
    key: E::Column,
    spec: PageSpec,
    key_of: impl Fn(&M) -> i64,
) -> Result<Page<M>, DbErr>
where
    E: EntityTrait,
    M: PartialModelTrait + Send + Sync,
    C: ConnectionTrait,
{
    let mut items = select_page(select, key, spec)
        .into_partial_model::<M>()
        .all(db)
        .await?;
    let more = items.len() as u64 > spec.limit;
    items.truncate(spec.limit as usize);
    let next_after = if more { items.last().map(key_of) } else { None };
    Ok(Page { items, next_after })
}
