use audit_core::Audited;

#[derive(Audited)]
pub struct Model(i32, String);

fn main() {}
