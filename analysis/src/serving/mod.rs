//! Serving under load (`load.csv`): energy per level from the run's samples, and the report's load section.

pub mod energy;
