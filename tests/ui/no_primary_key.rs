use audit_core::Audited;

#[derive(Audited)]
pub struct Model {
    pub id: i32,
    pub owner: String,
}

fn main() {}
