//! Serving under load (`load.csv`): energy per level from the run's samples, the report's load section, and
//! the export's load file.

pub mod energy;
pub mod layout;
pub mod model;
pub mod section;
