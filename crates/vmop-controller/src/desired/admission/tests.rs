use super::*;

fn key(ns: &str, name: &str) -> ProfileKey {
    ProfileKey {
        namespace: ns.into(),
        name: name.into(),
    }
}

fn line_with_cap(
    cap: usize,
) -> (
    Admission,
    futures::channel::mpsc::UnboundedReceiver<ObjectRef<VirtualMachineProfile>>,
) {
    let (tx, rx) = futures::channel::mpsc::unbounded();
    (Admission::new(Activity::Starts, Some(cap), tx), rx)
}

fn order(at: i64, name: &str) -> Order {
    (at, name.into())
}

#[test]
fn at_the_cap_profiles_wait_in_order_and_the_next_is_woken_when_one_runs() {
    let (admission, mut woken) = line_with_cap(2);
    assert_eq!(
        admission.request(&key("a", "vm-0"), &order(0, "vm-0"), &|_| None),
        Decision::Go
    );
    assert_eq!(
        admission.request(&key("a", "vm-1"), &order(1, "vm-1"), &|_| None),
        Decision::Go
    );
    let queued = admission.request(&key("a", "vm-3"), &order(3, "vm-3"), &|_| None);
    assert_eq!(
        queued,
        Decision::Queued {
            place: 1,
            waiting: 1,
            starting: 2,
            cap: 2
        }
    );
    let queued = admission.request(&key("a", "vm-2"), &order(2, "vm-2"), &|_| None);
    assert_eq!(
        queued,
        Decision::Queued {
            place: 1,
            waiting: 2,
            starting: 2,
            cap: 2
        },
        "created earlier: ahead"
    );
    admission.release(&key("a", "vm-0"), &|_| None);
    let next = woken.try_recv().expect("a profile woken");
    assert_eq!(next.name, "vm-2");
    // vm-3 asks first, but vm-2 is ahead: it waits.
    assert!(matches!(
        admission.request(&key("a", "vm-3"), &order(3, "vm-3"), &|_| None),
        Decision::Queued { place: 2, .. }
    ));
    assert_eq!(
        admission.request(&key("a", "vm-2"), &order(2, "vm-2"), &|_| None),
        Decision::Go
    );
    // Asking again once admitted is still Go.
    assert_eq!(
        admission.request(&key("a", "vm-2"), &order(2, "vm-2"), &|_| None),
        Decision::Go
    );
}

#[test]
fn namespaces_take_turns_and_a_namespace_at_its_cap_is_passed_over() {
    let (admission, _woken) = line_with_cap(1);
    assert_eq!(
        admission.request(&key("a", "a-0"), &order(0, "a-0"), &|_| None),
        Decision::Go
    );
    for i in 1..4 {
        let name = format!("a-{i}");
        admission.request(&key("a", &name), &order(i, &name), &|_| None);
    }
    // b's first comes before a's second, though created later.
    let b = admission.request(&key("b", "b-0"), &order(10, "b-0"), &|_| None);
    assert!(matches!(b, Decision::Queued { place: 1, .. }), "{b:?}");
    admission.release(&key("a", "a-0"), &|_| None);
    assert_eq!(
        admission.request(&key("a", "a-1"), &order(1, "a-1"), &|_| None),
        Decision::Queued {
            place: 2,
            waiting: 4,
            starting: 0,
            cap: 1
        }
    );
    assert_eq!(
        admission.request(&key("b", "b-0"), &order(10, "b-0"), &|_| None),
        Decision::Go
    );

    // A namespace cap of 0 holds its own profiles, not the others'.
    let (admission, _woken) = line_with_cap(5);
    let held = admission.request(&key("c", "c-0"), &order(0, "c-0"), &|ns| {
        (ns == "c").then_some(0)
    });
    assert!(matches!(held, Decision::Queued { cap: 0, .. }), "{held:?}");
    assert_eq!(
        admission.request(&key("d", "d-0"), &order(1, "d-0"), &|ns| (ns == "c")
            .then_some(0)),
        Decision::Go
    );
}

#[test]
fn a_restarted_operator_counts_what_is_starting_and_keeps_the_order() {
    let (admission, _woken) = line_with_cap(2);
    admission.seed(
        [
            (key("a", "vm-0"), "vm-0".into()),
            (key("a", "vm-1"), "vm-1".into()),
        ],
        [
            (key("a", "vm-5"), order(5, "vm-5"), "vm-5".into()),
            (key("a", "vm-2"), order(2, "vm-2"), "vm-2".into()),
        ],
    );
    assert!(matches!(
        admission.request(&key("a", "vm-5"), &order(5, "vm-5"), &|_| None),
        Decision::Queued {
            place: 2,
            starting: 2,
            ..
        }
    ));
    admission.release(&key("a", "vm-1"), &|_| None);
    assert!(
        matches!(
            admission.request(&key("a", "vm-5"), &order(5, "vm-5"), &|_| None),
            Decision::Queued { place: 2, .. }
        ),
        "vm-2 was created first"
    );
    assert_eq!(
        admission.request(&key("a", "vm-2"), &order(2, "vm-2"), &|_| None),
        Decision::Go
    );
}

#[test]
fn an_import_wakes_its_profile_and_a_deleted_profile_frees_all_its_imports() {
    let (tx, mut woken) = futures::channel::mpsc::unbounded();
    let imports = Admission::new(Activity::Imports, Some(2), tx);
    let none = |_: &str| None;
    for disk in ["web-root", "web-data"] {
        assert_eq!(
            imports.request_for(&key("a", disk), "web", &order(0, disk), &none),
            Decision::Go
        );
    }
    let queued = imports.request_for(&key("a", "db-root"), "db", &order(1, "db-root"), &none);
    assert_eq!(
        imports.queued_message(&queued).as_deref(),
        Some("1 of 1 in line to import: 2 imports are running, at most 2 at once")
    );
    // The profile web goes: both its imports leave, and db's profile (not its volume) wakes.
    imports.release_profile(&key("a", "web"), &none);
    let next = woken.try_recv().expect("a profile woken");
    assert_eq!(
        (next.name.as_str(), next.namespace.as_deref()),
        ("db", Some("a"))
    );
    assert_eq!(
        imports.request_for(&key("a", "db-root"), "db", &order(1, "db-root"), &none),
        Decision::Go
    );
    // An import that began before the line knew of it holds a place all the same.
    imports.hold(&key("a", "old-root"), "old");
    let held = imports.request_for(&key("a", "new-root"), "new", &order(2, "new-root"), &none);
    assert!(
        matches!(held, Decision::Queued { starting: 2, .. }),
        "{held:?}"
    );
    imports.release(&key("a", "old-root"), &none);
    assert_eq!(woken.try_recv().expect("woken").name, "new");
}

#[test]
fn a_disk_taken_out_of_the_spec_gives_its_place_back() {
    let (tx, mut woken) = futures::channel::mpsc::unbounded();
    let imports = Admission::new(Activity::Imports, Some(1), tx);
    let none = |_: &str| None;
    let web = key("a", "web");
    assert_eq!(
        imports.request_for(&key("a", "web-old"), "web", &order(0, "web-old"), &none),
        Decision::Go
    );
    let queued = imports.request_for(&key("a", "db-root"), "db", &order(1, "db-root"), &none);
    assert!(matches!(queued, Decision::Queued { .. }), "{queued:?}");
    imports.retain_profile_items(&web, &["web-old", "web-new"], &none);
    assert!(woken.try_recv().is_err(), "web-old is still in the spec");
    imports.retain_profile_items(&web, &["web-new"], &none);
    assert_eq!(woken.try_recv().expect("woken").name, "db");
}
