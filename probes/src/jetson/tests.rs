use super::*;
use crate::testing::FakeJetson;

fn poll(source: &mut JetsonSource, t_ns: u64) -> Vec<Reading> {
    let mut out = Vec::new();
    source.poll(t_ns, &mut out);
    out.into_iter().map(|r| r.reading).collect()
}

fn names(source: &JetsonSource) -> Vec<&str> {
    source.channels().iter().map(|c| c.channel.as_str()).collect()
}

#[test]
fn jetpack5_hwmon_rails_power_is_v_times_i_and_nc_is_skipped() {
    let fake = FakeJetson::orin_nx();
    let mut source = JetsonSource::open(fake.root(), 10.0).unwrap();
    assert_eq!(names(&source), ["VDD_IN", "VDD_CPU_GPU_CV", "VDD_SOC"]);
    assert!(
        source
            .channels()
            .iter()
            .all(|c| c.unit == "mW" && c.kind == SampleKind::Power)
    );
    assert_eq!(source.channels()[0].update_period_ns, 10_000_000);
    let mut out = Vec::new();
    source.poll(7, &mut out);
    // VDD_IN: 5080 mV x 1234 mA = 6268.72 mW.
    assert_eq!(
        out[0],
        TimedReading {
            channel: 0,
            t_ns: 7,
            reading: Reading::Value(5080.0 * 1234.0 / 1000.0)
        }
    );
    assert!(source.notes().iter().any(|n| n.contains("total input rail: VDD_IN")));
    assert!(source.notes().iter().any(|n| n.contains("update_interval = 1")));
    assert!(source.notes().iter().any(|n| n.contains("samples = 4")));
}

#[test]
fn jetpack4_iio_rails_read_the_power_file() {
    let fake = FakeJetson::nano_jetpack4();
    let mut source = JetsonSource::open(fake.root(), 10.0).unwrap();
    assert_eq!(names(&source), ["POM_5V_IN", "POM_5V_GPU", "POM_5V_CPU"]);
    assert_eq!(poll(&mut source, 1)[0], Reading::Value(3200.0));
    assert!(source.notes().iter().any(|n| n.contains("JetPack 4")));
}

#[test]
fn agx_orin_states_that_there_is_no_total_rail() {
    let fake = FakeJetson::agx_orin();
    let tree = discover_tree(fake.root()).unwrap();
    let names: Vec<&str> = tree.rails.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["VDD_GPU_SOC", "VDD_CPU_CV", "VIN_SYS_5V0", "VDDQ_VDD2_1V8AO"]);
    assert!(
        tree.notes
            .iter()
            .any(|n| n.contains("no total-input rail") && n.contains("AGX Orin"))
    );
}

#[test]
fn enodata_and_garbage_are_gaps_and_reading_resumes() {
    let fake = FakeJetson::orin_nx();
    let mut source = JetsonSource::open(fake.root(), 10.0).unwrap();
    fake.write("1-0040", 1, "curr", "");
    let readings = poll(&mut source, 1);
    assert!(matches!(&readings[0], Reading::Gap(why) if why.contains("unreadable")));
    assert_eq!(
        readings[1],
        Reading::Value(5080.0 * 500.0 / 1000.0),
        "other rails still read"
    );
    fake.write("1-0040", 1, "curr", "1000\n");
    assert_eq!(poll(&mut source, 2)[0], Reading::Value(5080.0));
}

#[test]
fn no_jetson_explains_itself() {
    let empty = tempfile::tempdir().unwrap();
    let found = discover(empty.path());
    let missing = found.missing.unwrap();
    assert!(
        missing.contains("not a Jetson") && missing.contains("ina238"),
        "{missing}"
    );
}

#[test]
fn thor_reads_vin_first_in_milliwatts_from_the_ina238_microwatt_file() {
    let fake = FakeJetson::thor();
    let mut source = JetsonSource::open(fake.root(), 10.0).unwrap();
    assert_eq!(names(&source), ["VIN", "VDD_GPU", "VDD_CPU_SOC_MSS", "VIN_SYS_5V0"]);
    let vin = &source.channels()[0];
    assert_eq!((vin.unit, vin.kind), (Unit::Milliwatt, SampleKind::Power));
    assert_eq!(vin.resolution, 1e-3, "the file's step is 1 uW");
    // The chip averages to a new value about every 50.5 ms: polling at 10 ms does not make it faster.
    assert_eq!(vin.update_period_ns, 50_500_000);
    assert_eq!(source.channels()[1].update_period_ns, 10_000_000);
    let readings = poll(&mut source, 3);
    // power1_input is 41 233 920 uW: 41 233.92 mW, not 1000 times more or less.
    assert_eq!(readings[0], Reading::Value(41_233_920.0 * 1e-3));
    assert_eq!(readings[1], Reading::Value(19_000.0 * 900.0 / 1000.0));
    let notes = source.notes();
    assert!(
        notes
            .iter()
            .any(|n| n.contains("total input rail: VIN") && n.contains("carrier")),
        "{notes:?}"
    );
    assert!(
        !notes.iter().any(|n| n.contains("AGX Orin")),
        "VIN_SYS_5V0 is present but VIN is the total: {notes:?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("ina238 at 2-0044") && n.contains("power1_input (uW)"))
    );
    assert!(notes[0].contains("ina238") && notes[0].contains("ina3221"), "{notes:?}");
}

#[test]
fn the_ina238_is_found_under_any_hwmon_number_and_its_label_names_it() {
    let fake = FakeJetson::new();
    fake.add_hwmon("1-0040", &[("VDD_GPU", 19_000, 900)]);
    fake.add_ina238("0-0045", 12, "ina238", 48_000, 1_000, 48_000_000);
    // A device-tree `label` shows as the hwmon device's `label` file.
    fake.write_ina238("0-0045", "label", "VIN_CARRIER\n");
    let tree = discover_tree(fake.root()).unwrap();
    assert_eq!(tree.rails[0].name, "VIN_CARRIER");
    assert_eq!(tree.rails[0].device, "0-0045");
    assert!(
        tree.rails[0].files == RailFiles::PowerMicrowatt(fake.ina238_file("0-0045", "power1_input")),
        "in0_input (the shunt) and the limits are never read: {:?}",
        tree.rails[0].files
    );
    // Not named VIN, so not taken for the system input.
    assert!(
        tree.notes.iter().any(|n| n.contains("no total-input rail")),
        "{:?}",
        tree.notes
    );
}

#[test]
fn two_unlabelled_ina238s_are_not_guessed_to_be_vin() {
    let fake = FakeJetson::new();
    fake.add_ina238("2-0044", 1, "ina238", 19_968, 1_000, 19_968_000);
    fake.add_ina238("2-0045", 2, "ina238", 5_000, 1_000, 5_000_000);
    let source = JetsonSource::open(fake.root(), 10.0).unwrap();
    assert_eq!(names(&source), ["ina238-2-0044", "ina238-2-0045"]);
    assert!(source.notes().iter().any(|n| n.contains("2 unlabelled INA238")));
}

#[test]
fn an_energy_counting_chip_is_read_as_a_cumulative_microjoule_counter() {
    let fake = FakeJetson::new();
    fake.add_ina238("2-0044", 5, "ina228", 19_968, 2_065, 41_233_920);
    let mut source = JetsonSource::open(fake.root(), 10.0).unwrap();
    let vin = &source.channels()[0];
    assert_eq!(vin.channel, "VIN");
    assert_eq!((vin.unit, vin.kind), (Unit::Microjoule, SampleKind::EnergyCounter));
    fake.write_ina238("2-0044", "energy1_input", "1000000\n");
    assert_eq!(
        poll(&mut source, 1)[0],
        Reading::Value(0.0),
        "the first read is the origin"
    );
    fake.write_ina238("2-0044", "energy1_input", "1412345\n");
    assert_eq!(poll(&mut source, 2)[0], Reading::Value(412_345.0));
    // The register's wrap point is not exposed: a step back is a gap, and counting resumes from it.
    fake.write_ina238("2-0044", "energy1_input", "10\n");
    assert!(matches!(&poll(&mut source, 3)[0], Reading::Gap(why) if why.contains("stepped back")));
    fake.write_ina238("2-0044", "energy1_input", "110\n");
    assert_eq!(poll(&mut source, 4)[0], Reading::Value(412_445.0));
    assert!(
        source
            .notes()
            .iter()
            .any(|n| n.contains("energy1_input (uJ, cumulative)"))
    );
}

#[test]
fn without_a_power_file_the_ina238_reads_v_times_i() {
    let fake = FakeJetson::new();
    fake.add_ina238("2-0044", 5, "ina238", 20_000, 1_500, 30_000_000);
    std::fs::remove_file(fake.ina238_file("2-0044", "power1_input")).unwrap();
    let mut source = JetsonSource::open(fake.root(), 10.0).unwrap();
    assert_eq!(poll(&mut source, 1)[0], Reading::Value(20_000.0 * 1_500.0 / 1000.0));
}

#[test]
fn garbage_in_power1_input_is_a_gap_and_the_rails_still_read() {
    let fake = FakeJetson::thor();
    let mut source = JetsonSource::open(fake.root(), 10.0).unwrap();
    fake.write_ina238("2-0044", "power1_input", "\n");
    let readings = poll(&mut source, 1);
    assert!(matches!(&readings[0], Reading::Gap(why) if why.contains("power1_input")));
    assert_eq!(readings[1], Reading::Value(19_000.0 * 900.0 / 1000.0));
    fake.write_ina238("2-0044", "power1_input", "30000000\n");
    assert_eq!(poll(&mut source, 2)[0], Reading::Value(30_000.0));
}

#[test]
fn an_ina238_without_its_files_says_what_to_do_and_the_rails_still_read() {
    let fake = FakeJetson::thor();
    for file in ["power1_input", "in1_input"] {
        std::fs::remove_file(fake.ina238_file("2-0044", file)).unwrap();
    }
    let found = discover(fake.root());
    assert!(found.missing.is_none());
    let channels: Vec<&str> = found.channels.iter().map(|c| c.channel.as_str()).collect();
    assert_eq!(channels, ["VDD_GPU", "VDD_CPU_SOC_MSS", "VIN_SYS_5V0"]);
    assert!(
        found
            .notes
            .iter()
            .any(|n| n.contains("not read") && n.contains("ina238 driver is bound") && n.contains("external meter")),
        "{:?}",
        found.notes
    );

    // With nothing else on the board, the probe is unavailable and the reason carries the same advice.
    let alone = FakeJetson::new();
    alone.add_ina238("2-0044", 5, "ina238", 19_968, 2_065, 41_233_920);
    for file in ["power1_input", "in1_input"] {
        std::fs::remove_file(alone.ina238_file("2-0044", file)).unwrap();
    }
    let missing = discover(alone.root()).missing.unwrap();
    assert!(
        missing.contains("power1_input") && missing.contains("external meter"),
        "{missing}"
    );
}

#[test]
fn a_file_gone_since_discovery_says_what_to_do() {
    let fake = FakeJetson::thor();
    let power = fake.ina238_file("2-0044", "power1_input");
    let err = open_file(&power.with_file_name("gone"), Chip::Ina238)
        .unwrap_err()
        .to_string();
    assert!(err.contains("is gone") && err.contains("harness probes"), "{err}");
}

#[test]
fn an_unreadable_ina238_file_gives_the_fix() {
    use std::os::unix::fs::PermissionsExt;
    let fake = FakeJetson::thor();
    // The fake tree's root is private to its owner: let the unprivileged identity below walk it.
    std::fs::set_permissions(fake.root(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let power = fake.ina238_file("2-0044", "power1_input");
    std::fs::set_permissions(&power, std::fs::Permissions::from_mode(0o200)).unwrap();
    let root = fake.root().to_path_buf();
    // Root reads any file whatever its mode; a thread whose filesystem uid is `nobody` does not (the kernel
    // drops its file capabilities), and the change is this thread's alone. Not root: setfsuid fails, harmless.
    let (probe_error, shown) = std::thread::spawn(move || {
        // SAFETY: setfsuid has no memory-safety preconditions and changes only the calling thread's identity.
        unsafe { libc::setfsuid(65534) };
        let error = JetsonSource::open(&root, 10.0).err().map(|e| e.to_string());
        (error, discover(&root).missing)
    })
    .join()
    .unwrap();
    let probe_error = probe_error.expect("opening an unreadable power1_input fails");
    assert!(
        probe_error.contains("permission denied")
            && probe_error.contains("power1_input")
            && probe_error.contains("/sys/bus/i2c/drivers/ina238/")
            && probe_error.contains("run the harness as root"),
        "{probe_error}"
    );
    assert_eq!(
        shown.as_deref(),
        Some(probe_error.as_str()),
        "`harness probes` shows the same fix"
    );
}

#[test]
fn harness_probes_lists_vin_first_with_the_total_note() {
    let fake = FakeJetson::thor();
    let found = discover(fake.root());
    assert!(found.missing.is_none());
    assert_eq!(found.channels[0].channel, "VIN");
    assert!(found.notes.iter().any(|n| n.contains("total input rail: VIN")));
}
