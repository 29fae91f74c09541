use audit_core::Audited;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "account")]
#[audit(table = 42, hooks, hooks)]
pub struct Model {
    #[sea_orm(primary_key)]
    #[audit(skip)]
    pub id: i32,
    #[audit(skip, skip)]
    pub note: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

fn main() {}
