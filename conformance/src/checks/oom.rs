use crate::check::Check;

pub fn checks() -> Vec<Check> {
    vec![]
}
