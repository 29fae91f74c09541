use audit_core::Audited;
use sea_orm::entity::prelude::*;

// Both ways of naming the subject, and a `subject_with` that is no path.
mod both {
    use super::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "shipment")]
    #[audit(subject = "user_id", subject_with = "owner_of")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        pub user_id: i32,
        #[audit(personal)]
        pub address: String,
    }

    pub fn owner_of(model: &Model) -> i32 {
        model.user_id
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

mod not_a_path {
    use super::*;

    #[derive(Clone, Debug, PartialEq, DeriveEntityModel, Audited)]
    #[sea_orm(table_name = "parcel")]
    #[audit(subject_with = "owner of")]
    pub struct Model {
        #[sea_orm(primary_key)]
        pub id: i32,
        #[audit(personal)]
        pub address: String,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}
}

fn main() {}
