//! Property tests of the cart CRDT over random operation sequences: the merge is a join
//! (commutative, associative, idempotent), replicas converge whatever order they see each
//! other's states in, and the shopper semantics hold. Bounded to run in well under a second.

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

const T0: f64 = 1_795_000_000_000.0;
/// Products × variants: few, so that operations collide on the same lines.
const ITEMS: u8 = 4;

#[derive(Clone, Debug)]
enum Op {
    Add(u8, u8),
    Remove(u8, Option<u8>),
    Set(u8, u8),
    Props(u8, u8),
    Coupon(Option<u8>),
    Clear,
    Order(u8),
    /// Merge the state of another replica (by index), directly or through its encoding.
    Merge(u8, bool),
    /// Replace the state by its decoded encoding (a reload).
    Reload,
    /// Advance this replica's clock (0: same millisecond as the previous write).
    Wait(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..ITEMS, 1..4u8).prop_map(|(i, n)| Op::Add(i, n)),
        3 => (0..ITEMS, proptest::option::of(1..3u8)).prop_map(|(i, n)| Op::Remove(i, n)),
        3 => (0..ITEMS, 0..5u8).prop_map(|(i, n)| Op::Set(i, n)),
        1 => (0..ITEMS, 0..3u8).prop_map(|(i, v)| Op::Props(i, v)),
        1 => proptest::option::of(0..3u8).prop_map(Op::Coupon),
        1 => Just(Op::Clear),
        1 => (0..100u8).prop_map(Op::Order),
        4 => (0..8u8, any::<bool>()).prop_map(|(r, e)| Op::Merge(r, e)),
        1 => Just(Op::Reload),
        2 => (0..40u16).prop_map(Op::Wait),
    ]
}

/// Operations with many orders and clears, so that the order cap and cart id rotation are
/// exercised by the merge laws too.
fn op_checkout_heavy() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => op(),
        1 => (0..100u8).prop_map(Op::Order),
    ]
}

fn item(i: u8) -> (String, String) {
    let pid = ["p", &(i / 2).to_string()].concat();
    (pid, if i % 2 == 1 { "v".to_owned() } else { String::new() })
}

const PRICES: [f64; 4] = [0.1, 19.99, 3.0, 1234.5];

/// Every event is a JSON object carrying the cart's id.
fn check(e: &CartEvent) {
    assert_eq!(json::validate(&e.properties), Some(json::Kind::Object), "{}: {}", e.name, e.properties);
    assert!(e.properties.starts_with("{\"cart_id\":"), "{}: {}", e.name, e.properties);
}

/// Applies one operation at replica `r` (time `now`); panics only on a broken invariant.
fn apply(reps: &mut [Cart], r: usize, op: &Op, now: f64) {
    apply_op(reps, r, op, now);
    let c = &reps[r];
    for e in [c.view(), c.checkout_started()] {
        assert_eq!(json::validate(&e.properties), Some(json::Kind::Object));
    }
}

fn apply_op(reps: &mut [Cart], r: usize, op: &Op, now: f64) {
    let n = reps.len();
    let ev = |e: Result<Option<CartEvent>, InputError>| e.unwrap().iter().for_each(check);
    match op {
        Op::Add(i, q) => {
            let (pid, v) = item(*i);
            let p =
                Product { product_id: &pid, variant: &v, name: "n", price: PRICES[usize::from(*i) % 4], currency: "EUR", properties: "" };
            ev(reps[r].add(&p, u32::from(*q), now));
        }
        Op::Remove(i, q) => {
            let (pid, v) = item(*i);
            ev(reps[r].remove(&pid, &v, q.map(u32::from), now));
        }
        Op::Set(i, q) => {
            let (pid, v) = item(*i);
            ev(reps[r].set_quantity(&pid, &v, u32::from(*q), now));
        }
        Op::Props(i, x) => {
            let (pid, v) = item(*i);
            let patch = ["{\"x\":", &x.to_string(), "}"].concat();
            reps[r].update_properties(&pid, &v, &patch, now).unwrap();
        }
        Op::Coupon(Some(c)) => {
            ev(reps[r].apply_coupon(&["C", &c.to_string()].concat(), now));
        }
        Op::Coupon(None) => {
            reps[r].remove_coupon(now).iter().for_each(check);
        }
        Op::Clear => {
            reps[r].clear(now).iter().for_each(check);
        }
        Op::Order(o) => {
            check(&reps[r].order_completed(&Order { order_id: &["o", &o.to_string()].concat(), ..Order::default() }, now).unwrap());
        }
        Op::Merge(from, encoded) => {
            let other = reps[usize::from(*from) % n].clone();
            if *encoded {
                reps[r].merge_encoded(&other.encode()).unwrap();
            } else {
                reps[r].merge(&other);
            }
        }
        Op::Reload => {
            let text = reps[r].encode();
            let d = Cart::decode(&text, reps[r].replica()).expect("own encoding decodes");
            assert_eq!(d, reps[r]);
            reps[r] = d;
        }
        Op::Wait(_) => {}
    }
}

/// Runs `steps` on `n` replicas whose clocks start `skew[i]` ms apart.
fn run(n: usize, skew: &[u16], steps: &[(u8, Op)]) -> Vec<Cart> {
    let mut reps: Vec<Cart> = (0..n).map(|i| Cart::new(&["r", &i.to_string()].concat())).collect();
    let mut clocks: Vec<f64> = (0..n).map(|i| T0 + f64::from(skew.get(i).copied().unwrap_or(0))).collect();
    for (r, op) in steps {
        let r = usize::from(*r) % n;
        if let Op::Wait(ms) = op {
            clocks[r] += f64::from(*ms);
        }
        apply(&mut reps, r, op, clocks[r]);
    }
    reps
}

fn join(a: &Cart, b: &Cart) -> Cart {
    let mut m = a.clone();
    m.merge(b);
    m
}

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config(200))]

    /// Three replicas after random histories (which include merges among them, so states
    /// share causal history): the merge is commutative, associative, idempotent, and the
    /// join absorbs its inputs; the encoding round-trips every state.
    #[test]
    fn merge_is_a_join(skew in proptest::collection::vec(0..20u16, 3), steps in proptest::collection::vec((0..3u8, op()), 0..60)) {
        let reps = run(3, &skew, &steps);
        let (a, b, c) = (&reps[0], &reps[1], &reps[2]);
        let ab = join(a, b);
        prop_assert_eq!(&ab, &join(b, a));
        prop_assert_eq!(ab.snapshot_json(), join(b, a).snapshot_json());
        prop_assert_eq!(join(&ab, c), join(a, &join(b, c)));
        prop_assert_eq!(&join(a, a), a);
        prop_assert_eq!(&join(&ab, a), &ab);
        prop_assert_eq!(&join(&ab, b), &ab);
        for x in [a, b, c, &ab] {
            let d = Cart::decode(&x.encode(), x.replica()).unwrap();
            prop_assert_eq!(&d, x);
        }
        // Merging returns "changed" exactly when the state changed.
        let mut m = a.clone();
        let changed = m.merge(b);
        prop_assert_eq!(changed, &m != a);
    }

    /// The same laws with checkouts in a quarter of the operations (order records past the
    /// cap of 5 are pruned in every merge).
    #[test]
    fn merge_is_a_join_with_many_orders(steps in proptest::collection::vec((0..3u8, op_checkout_heavy()), 0..60)) {
        let reps = run(3, &[0, 1, 2], &steps);
        let (a, b, c) = (&reps[0], &reps[1], &reps[2]);
        let ab = join(a, b);
        prop_assert_eq!(&ab, &join(b, a));
        prop_assert_eq!(join(&ab, c), join(a, &join(b, c)));
        prop_assert_eq!(join(&join(a, c), b), join(&join(c, b), a));
        prop_assert_eq!(&join(&ab, a), &ab);
        prop_assert!(ab.orders().len() <= MAX_ORDERS);
    }

    /// A single replica behaves like a plain map of quantities (folding and re-basing are
    /// invisible), and each event reports the change it made.
    #[test]
    fn one_replica_matches_a_plain_model(steps in proptest::collection::vec(op(), 0..80)) {
        let mut reps = vec![Cart::new("solo")];
        let mut model: BTreeMap<u8, i64> = BTreeMap::new();
        let mut now = T0;
        for op in &steps {
            now += 1.0;
            match op {
                Op::Add(i, q) => *model.entry(*i).or_insert(0) += i64::from(*q),
                Op::Remove(i, q) => {
                    let cur = model.get(i).copied().unwrap_or(0);
                    let left = q.map_or(0, |q| (cur - i64::from(q)).max(0));
                    model.insert(*i, left);
                }
                Op::Set(i, q) if model.get(i).copied().unwrap_or(0) > 0 => {
                    model.insert(*i, i64::from(*q));
                }
                Op::Clear | Op::Order(_) => model.clear(),
                _ => {}
            }
            apply(&mut reps, 0, op, now);
            for i in 0..ITEMS {
                let (pid, v) = item(i);
                prop_assert_eq!(i64::from(reps[0].quantity(&pid, &v)), model.get(&i).copied().unwrap_or(0), "item {} after {:?}", i, op);
            }
            prop_assert!(reps[0].entry_count() <= usize::from(ITEMS) * (MAX_QTY_ENTRIES + 1) + 3 + MAX_ORDERS);
        }
    }

    /// Concurrent adds from every replica all count: after any number of adds on any
    /// replicas and any gossip, the converged quantity of a line is the sum of its adds.
    #[test]
    fn concurrent_adds_all_count(steps in proptest::collection::vec((0..4u8, 0..ITEMS, 1..4u8, proptest::option::of(0..4u8)), 0..60)) {
        let mut reps: Vec<Cart> = (0..4).map(|i| Cart::new(&["r", &i.to_string()].concat())).collect();
        let mut sum = [0u32; ITEMS as usize];
        for (k, (r, i, q, gossip)) in steps.iter().enumerate() {
            let (pid, v) = item(*i);
            let r = usize::from(*r);
            reps[r].add(&Product { product_id: &pid, variant: &v, ..Product::default() }, u32::from(*q), T0 + k as f64).unwrap();
            sum[usize::from(*i)] += u32::from(*q);
            if let Some(g) = gossip {
                let other = reps[usize::from(*g)].clone();
                reps[r].merge(&other);
            }
        }
        let all = reps.iter().fold(Cart::new("x"), |acc, c| join(&acc, c));
        for i in 0..ITEMS {
            let (pid, v) = item(i);
            prop_assert_eq!(all.quantity(&pid, &v), sum[usize::from(i)]);
        }
    }

    /// A removal removes what the remover saw and nothing else: after a random converged
    /// history, one replica removes a line while the others, not having seen the removal,
    /// add to it; the converged line holds exactly those unseen adds.
    #[test]
    fn removal_spares_unseen_adds(steps in proptest::collection::vec((0..3u8, op()), 0..40), line in 0..ITEMS, adds in proptest::collection::vec(0..3u8, 2), clear in any::<bool>()) {
        let mut reps = run(3, &[0, 3, 7], &steps);
        let all = reps.iter().fold(Cart::new("x"), |acc, c| join(&acc, c));
        for r in reps.iter_mut() {
            r.merge(&all);
        }
        let (pid, v) = item(line);
        if clear {
            reps[0].clear(T0 + 1e6);
        } else {
            reps[0].remove(&pid, &v, None, T0 + 1e6).unwrap();
        }
        let mut expect = 0;
        for (k, n) in adds.iter().enumerate() {
            if *n > 0 {
                reps[k + 1].add(&Product { product_id: &pid, variant: &v, ..Product::default() }, u32::from(*n), T0 + 1e6).unwrap();
                expect += u32::from(*n);
            }
        }
        let seen_before: u32 = all.quantity(&pid, &v);
        let end = reps.iter().fold(Cart::new("x"), |acc, c| join(&acc, c));
        // An add to a line that was visible continues it; one to an invisible line re-bases.
        let _ = seen_before;
        prop_assert_eq!(end.quantity(&pid, &v), expect);
    }

    /// Randomized multi-replica simulation: 5 replicas run random operations with random
    /// gossip (some of it through the encoding); then every replica receives every other's
    /// final state, each in its own random order. All converge to one state, equal to the
    /// join of the final states in any order, with the same `products[]` and totals.
    #[test]
    fn replicas_converge_in_any_delivery_order(
        skew in proptest::collection::vec(0..50u16, 5),
        steps in proptest::collection::vec((0..5u8, op()), 0..120),
        orders in proptest::collection::vec(proptest::collection::vec(any::<u32>(), 5), 5),
    ) {
        let finals = run(5, &skew, &steps);
        let mut reps = finals.clone();
        for (i, rep) in reps.iter_mut().enumerate() {
            let mut order: Vec<usize> = (0..5).collect();
            order.sort_by_key(|j| orders[i][*j]);
            for j in order {
                if j % 2 == 0 {
                    rep.merge(&finals[j]);
                } else {
                    rep.merge_encoded(&finals[j].encode()).unwrap();
                }
            }
        }
        let reference = finals.iter().rev().fold(Cart::new("x"), |acc, c| join(&acc, c));
        for rep in &reps {
            prop_assert_eq!(rep, &reference);
            prop_assert_eq!(rep.snapshot_json(), reference.snapshot_json());
            prop_assert_eq!(rep.view().properties, reference.view().properties);
        }
        // Converged replicas stay converged: one more round changes nothing.
        let mut again = reps[0].clone();
        for r in &reps {
            prop_assert!(!again.merge(r));
        }
    }
}

proptest! {
    #![proptest_config(config(200))]

    /// Concurrent set-quantity on up to 4 replicas (clocks with ties, some behind the cart's
    /// clock): the converged quantity is the one written with the largest (timestamp, replica
    /// id), in any merge order; a replica that sets again after seeing the others wins.
    #[test]
    fn set_quantity_is_last_writer_wins(sets in proptest::collection::vec((0..8u16, 1..9u8), 1..5), again in 1..9u8, order in any::<u64>()) {
        let mut base = Cart::new("base");
        base.add(&Product { product_id: "p", ..Product::default() }, 1, T0 + 5.0).unwrap();
        let clock = base.max_ts;
        let mut reps: Vec<Cart> = Vec::new();
        let mut expect: Option<(u64, String, u8)> = None;
        for (i, (dt, q)) in sets.iter().enumerate() {
            let mut r = base.clone();
            r.replica = ["r", &i.to_string()].concat();
            let now = T0 + f64::from(*dt);
            let changed = r.set_quantity("p", "", u32::from(*q), now).unwrap().is_some();
            if changed {
                let ts = (now as u64).max(clock + 1);
                let cand = (ts, r.replica.clone(), *q);
                if expect.as_ref().map_or(true, |e| (cand.0, &cand.1) > (e.0, &e.1)) {
                    expect = Some(cand);
                }
            }
            reps.push(r);
        }
        let n = reps.len();
        let rot = (order as usize) % n;
        let fwd = reps.iter().cycle().skip(rot).take(n).fold(base.clone(), |acc, c| join(&acc, c));
        let bwd = reps.iter().rev().fold(base.clone(), |acc, c| join(&acc, c));
        prop_assert_eq!(&fwd, &bwd);
        let want = expect.map_or(1, |e| u32::from(e.2));
        prop_assert_eq!(fwd.quantity("p", ""), want);
        // Having seen them all, a later set wins even with the earliest clock.
        let mut last = fwd.clone();
        last.replica = "a".into();
        last.set_quantity("p", "", u32::from(again), T0).unwrap();
        prop_assert_eq!(join(&bwd, &last).quantity("p", ""), u32::from(again));
    }
}
