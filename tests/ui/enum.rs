use audit_core::Audited;

#[derive(Audited)]
pub enum Model {
    Id(i32),
}

fn main() {}
