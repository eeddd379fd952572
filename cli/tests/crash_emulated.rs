//! Crash injection on the emulated kernel, without root: at every failpoint
//! of create, start and delete (brig_runtime::failpoint::POINTS), the state a SIGKILL
//! of brig would leave is taken as a snapshot (the state store as it is on
//! disk, and the emulated kernel, whose processes and cgroups outlive brig).
//! On that crashed world: `list` works, `state` answers, `delete --force`
//! succeeds and leaves no state dir, cgroup or process, and the id can be
//! created, started and deleted again.
//!
//! crash.rs does the same with real SIGKILLs on the real kernel (root).

mod emu;

use std::cell::RefCell;
use std::path::PathBuf;
use std::rc::Rc;

use brig_runtime::container::{self, CreateOptions, Store};
use brig_runtime::kernel::emulator::Emulator;
use brig_runtime::kernel::Kernel;
use emu::{copy_tree, EmuBed};

const SCRIPT: &str = "trap 'exit 0' TERM; sleep 1000 & wait";

fn opts(bed: &EmuBed) -> CreateOptions {
    CreateOptions {
        bundle: bed.bundle.clone(),
        ..Default::default()
    }
}

/// create, start and delete --force of `id`, all of which must succeed.
fn lifecycle(k: &Kernel, bed: &EmuBed, store: &Store, id: &str) {
    container::create_in(k, store, id, &opts(bed)).expect("create");
    container::start_in(k, store, id).expect("start");
    container::delete_in(k, store, id, true).expect("delete --force");
}

fn assert_clean(emu: &Emulator, store: &Store, id: &str, point: &str) {
    assert!(
        !store.dir(id).exists(),
        "{point}: state dir of {id} left behind"
    );
    assert!(
        emu.cgroups().is_empty(),
        "{point}: cgroups left: {:?}",
        emu.cgroups()
    );
    assert!(
        emu.pids().is_empty(),
        "{point}: processes left: {:?}",
        emu.pids()
    );
}

#[test]
fn a_crash_at_every_failpoint_is_cleaned_up_by_delete_force() {
    let bed = EmuBed::new(&["sh", "-c", SCRIPT]);
    for (n, &point) in brig_runtime::failpoint::POINTS.iter().enumerate() {
        let id = format!("crash-{n}");
        let emu = Emulator::new();
        let snap_root = bed.tmp.path().join(format!("crashed-{n}"));
        let taken: Rc<RefCell<Option<Emulator>>> = Rc::default();
        {
            let (taken, emu2, from, to) = (
                taken.clone(),
                emu.clone(),
                bed.store.root().to_path_buf(),
                snap_root.clone(),
            );
            let _observing = brig_runtime::failpoint::observe(move |name| {
                if name == point && taken.borrow().is_none() {
                    copy_tree(&from, &to);
                    *taken.borrow_mut() = Some(emu2.snapshot());
                }
            });
            lifecycle(&emu.kernel(), &bed, &bed.store, &id);
        }
        assert_clean(&emu, &bed.store, &id, "uncrashed run");
        let crashed = taken
            .borrow_mut()
            .take()
            .unwrap_or_else(|| panic!("failpoint {point} was never reached"));
        let store = Store::new(PathBuf::from(&snap_root));
        let k = crashed.kernel();
        // `list` and `state` work on what the crash left.
        let ids = store.ids().unwrap_or_else(|e| panic!("{point}: list: {e}"));
        assert!(ids.iter().all(|i| i == &id), "{point}: list shows {ids:?}");
        if let Err(e) = container::state_in(&k, &store, &id) {
            let s = e.to_string();
            assert!(
                s.contains("does not exist") || s.contains("has no state"),
                "{point}: state: {s}"
            );
        }
        container::delete_in(&k, &store, &id, true)
            .unwrap_or_else(|e| panic!("{point}: delete --force after the crash: {e}"));
        assert_clean(&crashed, &store, &id, point);
        // The id can be used again.
        lifecycle(&k, &bed, &store, &id);
        assert_clean(&crashed, &store, &id, point);
        eprintln!("crash_emulated: {point}: cleaned up, id reusable");
    }
}
