//! The report's side of serving under load (`load.csv`): the load sections as data, their figures, and their
//! layout as report blocks. The energy of each level is pairing's ([`crate::pair::levels`]).

pub mod layout;
pub mod model;
pub mod section;
