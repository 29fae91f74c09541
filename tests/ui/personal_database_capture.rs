use audit_core::Audited;
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
#[sea_orm(table_name = "person")]
#[audit(capture = "database")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i32,
    #[audit(personal)]
    pub email: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

fn main() {}
