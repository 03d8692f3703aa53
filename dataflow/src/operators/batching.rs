//! The shared shape of our stateful operators: stash input by time, and once the input
//! frontier has passed a time, hand that time's data to the logic, times in order.
//!
//! Processing whole times in order is what makes every operator's result depend only on
//! the sequence of versions, never on how messages were batched or interleaved.

use std::collections::BTreeMap;

use timely::dataflow::channels::pact::ParallelizationContract;
use timely::dataflow::operators::generic::Operator;
use timely::dataflow::operators::{Capability, InputCapability};
use timely::dataflow::Stream;

use crate::commands::Version;

/// Input data by time, each time with a capability for it.
pub type Stash<D> = BTreeMap<Version, (Capability<Version>, Vec<D>)>;

/// Move one input message's data into `stash` under its time.
pub fn stash_message<D>(stash: &mut Stash<D>, cap: &InputCapability<Version>, data: &mut Vec<D>) {
    if let Some(c) = cap.retain_least(0) {
        let t = *c.time();
        stash.entry(t).or_insert_with(|| (c, Vec::new())).1.append(data);
    }
}

/// Run `logic(time, data, output)` once per completed time, in time order.
pub fn by_time<'s, D, O, P, L>(
    stream: Stream<'s, Version, Vec<D>>,
    pact: P,
    name: &str,
    mut logic: L,
) -> Stream<'s, Version, Vec<O>>
where
    D: Clone + 'static,
    O: Clone + 'static,
    P: ParallelizationContract<Version, Vec<D>>,
    L: FnMut(Version, Vec<D>, &mut Vec<O>) + 'static,
{
    stream.unary_frontier(pact, name, move |_cap, _info| {
        let mut stash: Stash<D> = BTreeMap::new();
        move |(input, frontier), output| {
            input.for_each(|cap, data| stash_message(&mut stash, &cap, data));
            while let Some((&t, _)) = stash.first_key_value() {
                if frontier.less_equal(&t) {
                    break;
                }
                if let Some((cap, data)) = stash.remove(&t) {
                    let mut out = Vec::new();
                    logic(t, data, &mut out);
                    if !out.is_empty() {
                        output.session(&cap).give_container(&mut out);
                    }
                }
            }
        }
    })
}
