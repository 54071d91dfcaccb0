//! The order of a run: every (workload, input, runtime, mode) cell gets its warm-up and measured invocations;
//! measured invocations are shuffled across cells with the plan's seed (as sightglass does), and a cell's
//! warm-ups run right before its first measured invocation.

use crate::plan::Plan;
use harness_data::Mode;
use rand::SeedableRng;
use rand::seq::SliceRandom;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cell {
    pub workload: usize,
    pub input: usize,
    pub runtime: usize,
    pub mode: Mode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub cell: usize,
    pub iteration: u32,
    pub warmup: bool,
}

#[derive(Debug, Clone)]
pub struct Schedule {
    pub cells: Vec<Cell>,
    pub slots: Vec<Slot>,
}

impl Schedule {
    pub fn new(plan: &Plan) -> Schedule {
        let mut cells = Vec::new();
        for (w, workload) in plan.workloads.iter().enumerate() {
            for input in 0..workload.inputs.len() {
                for runtime in 0..plan.runtimes.len() {
                    for &mode in &plan.modes {
                        cells.push(Cell {
                            workload: w,
                            input,
                            runtime,
                            mode,
                        });
                    }
                }
            }
        }
        let mut measured: Vec<Slot> = (0..cells.len())
            .flat_map(|cell| {
                (0..plan.repetitions).map(move |iteration| Slot {
                    cell,
                    iteration,
                    warmup: false,
                })
            })
            .collect();
        measured.shuffle(&mut rand_chacha::ChaCha8Rng::seed_from_u64(plan.seed));
        // Iterations count in executed order within each cell.
        let mut next_iteration = vec![0u32; cells.len()];
        let mut slots = Vec::with_capacity(measured.len() + cells.len() * plan.warmup as usize);
        for slot in measured {
            if next_iteration[slot.cell] == 0 {
                slots.extend((0..plan.warmup).map(|iteration| Slot {
                    cell: slot.cell,
                    iteration,
                    warmup: true,
                }));
            }
            slots.push(Slot {
                cell: slot.cell,
                iteration: next_iteration[slot.cell],
                warmup: false,
            });
            next_iteration[slot.cell] += 1;
        }
        Schedule { cells, slots }
    }

    /// hyperfine's order (`harness run --order sequential`): each cell's warm-ups and repetitions back to back,
    /// cells in plan order.
    pub fn sequential(plan: &Plan) -> Schedule {
        let Schedule { cells, .. } = Schedule::new(plan);
        let slots = (0..cells.len())
            .flat_map(|cell| {
                let warmups = (0..plan.warmup).map(move |iteration| Slot {
                    cell,
                    iteration,
                    warmup: true,
                });
                let measured = (0..plan.repetitions).map(move |iteration| Slot {
                    cell,
                    iteration,
                    warmup: false,
                });
                warmups.chain(measured)
            })
            .collect();
        Schedule { cells, slots }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn plan(seed: u64) -> Plan {
        let text = format!(
            "seed = {seed}\nrepetitions = 5\nwarmup = 2\nruntimes = [\"native\", \"wasmi\"]\nmodes = [\"cold\", \"warm\"]\n[[workloads]]\nname = \"noop\"\ninputs = [\"a\", \"b\"]\n"
        );
        Plan::parse(&text, Path::new("p.toml")).unwrap()
    }

    #[test]
    fn every_cell_gets_its_warmups_first_then_its_repetitions() {
        let schedule = Schedule::new(&plan(7));
        assert_eq!(schedule.cells.len(), 8);
        assert_eq!(schedule.slots.len(), 8 * (5 + 2));
        for cell in 0..schedule.cells.len() {
            let mine: Vec<&Slot> = schedule.slots.iter().filter(|s| s.cell == cell).collect();
            assert!(mine[0].warmup && mine[1].warmup && !mine[2].warmup);
            let iterations: Vec<u32> = mine[2..].iter().map(|s| s.iteration).collect();
            assert_eq!(iterations, vec![0, 1, 2, 3, 4]);
        }
    }

    #[test]
    fn sequential_runs_each_cell_whole_in_order() {
        let schedule = Schedule::sequential(&plan(7));
        assert_eq!(schedule.slots.len(), 8 * 7);
        let cells: Vec<usize> = schedule.slots.iter().map(|s| s.cell).collect();
        let mut sorted = cells.clone();
        sorted.sort();
        assert_eq!(cells, sorted);
        assert!(schedule.slots[0].warmup && schedule.slots[1].warmup && !schedule.slots[2].warmup);
    }

    #[test]
    fn the_seed_fixes_the_order() {
        assert_eq!(Schedule::new(&plan(7)).slots, Schedule::new(&plan(7)).slots);
        assert_ne!(Schedule::new(&plan(7)).slots, Schedule::new(&plan(8)).slots);
    }
}
