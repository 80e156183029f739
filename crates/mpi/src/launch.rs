//! How this process was started, read from its environment with no IO: by an MPI
//! launcher (with PMI, so its ranks form one job), as a task of a Slurm step without PMI
//! (each task would be a job of its own), or by hand.

/// Variables an MPI launcher's process-management interface sets in every rank: Open
/// MPI's, PMIx's (`srun --mpi=pmix`, Open MPI 5), PMI-1/2's (`srun --mpi=pmi2`, MPICH)
/// and Hydra's.
const PMI: &[&str] = &[
    "OMPI_COMM_WORLD_SIZE",
    "PMIX_RANK",
    "PMIX_NAMESPACE",
    "PMI_SIZE",
    "PMI_RANK",
    "PMI_FD",
    "MPI_LOCALNRANKS",
];

/// Set by `srun` in every task of a job step: the step's number of tasks.
const SLURM_STEP_TASKS: &str = "SLURM_STEP_NUM_TASKS";

/// How this process was started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Launch {
    /// By an MPI launcher with PMI: the ranks find each other.
    Mpi,
    /// As one of `tasks` tasks of a Slurm step (`srun`) without PMI.
    SlurmWithoutPmi { tasks: u32 },
    /// By `srun` as a step of one task, without PMI: a job of one rank.
    SlurmAlone,
    /// By hand (or by something that is no MPI launcher).
    ByHand,
}

/// Reads how the process was started from `env` (a variable's value by name).
pub(crate) fn detect(env: impl Fn(&str) -> Option<String>) -> Launch {
    if PMI.iter().any(|v| env(v).is_some()) {
        return Launch::Mpi;
    }
    match env(SLURM_STEP_TASKS).map(|n| n.trim().parse::<u32>()) {
        Some(Ok(tasks)) if tasks > 1 => Launch::SlurmWithoutPmi { tasks },
        Some(_) => Launch::SlurmAlone,
        None => Launch::ByHand,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect_in(vars: &[(&str, &str)]) -> Launch {
        detect(|name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string()))
    }

    /// What `srun` sets in a task (Slurm 22.05), beside what the PMI plugin adds.
    const SRUN: &[(&str, &str)] = &[
        ("SLURM_JOB_ID", "4242"),
        ("SLURM_STEP_ID", "0"),
        ("SLURM_PROCID", "1"),
        ("SLURM_NTASKS", "3"),
        ("SLURM_STEP_NUM_TASKS", "3"),
        ("SLURM_NODELIST", "node[1-2]"),
    ];

    #[test]
    fn srun_with_pmix_is_an_mpi_launch() {
        let vars: Vec<_> = SRUN
            .iter()
            .copied()
            .chain([("PMIX_RANK", "1"), ("PMIX_NAMESPACE", "slurm.pmix.4242.0")])
            .collect();
        assert_eq!(detect_in(&vars), Launch::Mpi);
        let pmi2: Vec<_> =
            SRUN.iter().copied().chain([("PMI_FD", "7"), ("PMI_RANK", "1")]).collect();
        assert_eq!(detect_in(&pmi2), Launch::Mpi);
    }

    #[test]
    fn srun_without_pmi_is_refused() {
        assert_eq!(detect_in(SRUN), Launch::SlurmWithoutPmi { tasks: 3 });
        let one: Vec<_> = SRUN
            .iter()
            .map(|&(n, v)| if n == SLURM_STEP_TASKS { (n, "1") } else { (n, v) })
            .collect();
        assert_eq!(detect_in(&one), Launch::SlurmAlone);
    }

    #[test]
    fn an_sbatch_script_or_a_shell_is_by_hand() {
        // The batch script itself runs in the allocation but in no srun step.
        let batch = [("SLURM_JOB_ID", "4242"), ("SLURM_NTASKS", "3"), ("SLURM_NODELIST", "n1")];
        assert_eq!(detect_in(&batch), Launch::ByHand);
        assert_eq!(detect_in(&[]), Launch::ByHand);
    }

    #[test]
    fn mpirun_is_an_mpi_launch() {
        assert_eq!(detect_in(&[("OMPI_COMM_WORLD_SIZE", "3")]), Launch::Mpi);
        assert_eq!(detect_in(&[("PMI_RANK", "0"), ("MPI_LOCALNRANKS", "3")]), Launch::Mpi);
    }
}
